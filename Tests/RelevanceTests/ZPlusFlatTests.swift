import XCTest
@testable import Relevance

/// The `zplus-flat` rule against its formula in matrix form, where z⁺'s denominator is empty
/// (depthwise windows of zeros, padding), and its conservation where z⁺ loses relevance.
final class ZPlusFlatTests: XCTestCase {
  /// R_i = Σ_j (a_i⁺ w_ij⁺ + a_i⁻ w_ij⁻ + η·[i ∈ N_j]) / (Σ_{i'} (…) + b_j⁺) · R_j in Double,
  /// written out independently of the runtime (no stabilizer: the denominator is ≥ η·|N_j|).
  static func reference(eta: Double, a: [Float], w: [[Float]], connected: (Int, Int) -> Bool,
                        bias: [Float]? = nil, r: [Float]) -> [Float] {
    let n = a.count, m = r.count
    func term(_ i: Int, _ j: Int) -> Double {
      guard connected(i, j) else { return 0 }
      let (x, v) = (Double(a[i]), Double(w[i][j]))
      return max(x, 0) * max(v, 0) + min(x, 0) * min(v, 0) + eta
    }
    var result = [Double](repeating: 0, count: n)
    for j in 0..<m {
      var z = bias.map { Double(max($0[j], 0)) } ?? 0
      for i in 0..<n { z += term(i, j) }
      for i in 0..<n { result[i] += term(i, j) / z * Double(r[j]) }
    }
    return result.map { Float($0) }
  }

  /// A depthwise 3×3 conv (pad 1, 3 channels) after an optional Relu, with its unrolled matrix.
  struct Depthwise {
    let channels = 3, h = 5, wd = 5, k = 3
    let window = Window2D(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
    var weight: [Float]
    var bias: [Float]
    /// Channel 0 is all zero; channel 1 is zero on its top-left 3×3 corner, so four of its
    /// outputs see only zeros (and padding); channel 2 is signed noise.
    var x: [Float]

    init() {
      var g = RuleMatrixTests.Generator(state: 29)
      weight = g.array(channels * k * k)
      bias = g.array(channels)
      x = g.array(channels * h * wd)
      for i in 0..<(h * wd) { x[i] = 0 }
      for y in 0..<3 { for xx in 0..<3 { x[h * wd + y * wd + xx] = 0 } }
    }

    var outputCount: Int { channels * h * wd }

    /// w[i][j] and whether input i feeds output j; taps in the padding vanish.
    func unrolled() -> (w: [[Float]], connected: [[Bool]]) {
      let n = channels * h * wd
      var w = [[Float]](repeating: [Float](repeating: 0, count: outputCount), count: n)
      var connected = [[Bool]](repeating: [Bool](repeating: false, count: outputCount), count: n)
      for c in 0..<channels { for oy in 0..<h { for ox in 0..<wd { for i in 0..<k { for j in 0..<k {
        let y = oy - 1 + i, xx = ox - 1 + j
        guard y >= 0, y < h, xx >= 0, xx < wd else { continue }
        w[(c * h + y) * wd + xx][(c * h + oy) * wd + ox] = weight[(c * k + i) * k + j]
        connected[(c * h + y) * wd + xx][(c * h + oy) * wd + ox] = true
      } } } } }
      return (w, connected)
    }

    func plan(_ rule: LinearRule, relu: Bool) throws -> RelevancePlan {
      let conv = Node(name: "dw", op: .conv(Conv2D(window: window, group: channels, autoPad: .explicit)),
                      inputs: [relu ? "h" : "x", "W", "b"], outputs: ["y"], sourceOpType: "Conv")
      let nodes = relu ? [Node(name: "relu", op: Op.relu, inputs: ["x"], outputs: ["h"], sourceOpType: "Relu"), conv] : [conv]
      let shape = [1, channels, h, wd]
      let graph = Graph(name: "t", source: "test", input: "x", declaredInputShape: shape.map { .fixed($0) }, outputs: ["y"],
                        nodes: nodes, constants: ["W": Constant(shape: [channels, 1, k, k], floats: weight),
                                                  "b": Constant(shape: [channels], floats: bias)],
                        opsetVersion: 13, producer: "test")
      let canonical = try Canonicalizer.canonicalize(graph, inputShape: shape)
      return try RelevancePlan(graph: canonical, rules: canonical.nodes.map { node -> Rule in
        if case .conv = node.op { return .linear(rule) } else { return .pass }
      })
    }
  }

  func testDepthwiseConvMatchesMatrixFormWithEmptyWindows() throws {
    let d = Depthwise()
    let (w, connected) = d.unrolled()
    var g = RuleMatrixTests.Generator(state: 31)
    let r = g.array(d.outputCount)
    for relu in [false, true] {
      // The Relu makes the conv's input provably non-negative: the specialized lowering runs.
      let a = relu ? d.x.map { max($0, 0) } : d.x
      for (eta, bias) in [(Float(1e-6), false), (0.5, false), (0.25, true)] {
        let rule = LinearRule(.zPlusFlat(eta: eta), bias: bias)
        let p = try d.plan(rule, relu: relu)
        let result = try p.explain(Tensor(shape: [1, d.channels, d.h, d.wd], data: d.x),
                                   signals: Tensor(shape: [1, d.channels, d.h, d.wd], data: r), at: "y")
        let expected = Self.reference(eta: Double(eta), a: a, w: w, connected: { connected[$0][$1] },
                                      bias: bias ? (0..<d.outputCount).map { d.bias[$0 / (d.h * d.wd)] } : nil, r: r)
        XCTAssertLessThan(relativeError(result.input.data, expected), 1e-4, "\(rule), relu \(relu)")
        XCTAssertEqual(result.layers.map(\.zeroDenominators).reduce(0, +), 0, "\(rule)")
      }
    }
    // The corner output of the all-zero channel 0 sees a 2×2 window inside the image: with
    // z⁺ = 0 there, zplus-flat is flat, R_j/4 to each of those inputs (and nothing to padding).
    var corner = [Float](repeating: 0, count: d.outputCount)
    corner[0] = 1
    let p = try d.plan(LinearRule(.zPlusFlat(eta: 1e-6)), relu: true)
    let spread = try p.explain(Tensor(shape: [1, d.channels, d.h, d.wd], data: d.x),
                               signals: Tensor(shape: [1, d.channels, d.h, d.wd], data: corner), at: "y").input.data
    for (i, v) in spread.enumerated() {
      XCTAssertEqual(v, [0, 1, d.wd, d.wd + 1].contains(i) ? 0.25 : 0, accuracy: 1e-6, "input \(i)")
    }
  }

  func testDenseMatchesMatrixFormWithAnEmptyRow() throws {
    var g = RuleMatrixTests.Generator(state: 37)
    let (n, m, k) = (5, 4, 2)
    // Row 0 has weights only where the input is 0 or the signs disagree: z⁺_0 = 0.
    let a: [Float] = [0, 0.7, -0.4, 0, 0.3]
    var wFlat = g.array(m * n)
    for (i, v) in [Float(0.9), -0.5, 0.6, -0.8, -0.2].enumerated() { wFlat[i] = v }
    let w = (0..<n).map { i in (0..<m).map { j in wFlat[j * n + i] } }
    let b = g.array(m)
    let signals = g.array(k * m)
    let node = Node(name: "fc", op: .dense, inputs: ["x", "W", "b"], outputs: ["y"], sourceOpType: "Gemm")
    let graph = Graph(name: "t", source: "test", input: "x", declaredInputShape: [.fixed(1), .fixed(n)], outputs: ["y"],
                      nodes: [node], constants: ["W": Constant(shape: [m, n], floats: wFlat), "b": Constant(shape: [m], floats: b)],
                      opsetVersion: 13, producer: "test")
    let canonical = try Canonicalizer.canonicalize(graph, inputShape: [1, n])
    // Threshold 0: the weights are modified block by block (one row each), as for a large classifier.
    for eta in [Float(1e-6), 0.5] { for threshold in [RelevancePlan.defaultDenseBlockThreshold, 0] {
      let p = try RelevancePlan(graph: canonical, rules: [.linear(LinearRule(.zPlusFlat(eta: eta)))], denseBlockThreshold: threshold)
      let result = try p.explain(Tensor(shape: [1, n], data: a), signals: Tensor(shape: [k, m], data: signals), at: "y")
      for s in 0..<k {
        let expected = Self.reference(eta: Double(eta), a: a, w: w, connected: { _, _ in true }, r: Array(signals[(s * m)..<((s + 1) * m)]))
        XCTAssertLessThan(relativeError(Array(result.input.data[(s * n)..<((s + 1) * n)]), expected), 1e-4,
                          "eta \(eta), threshold \(threshold), signal \(s)")
      }
    } }
  }

  /// After a Relu, z⁺ meets empty depthwise windows and drops what arrives there; zplus-flat
  /// hands it on, so the input sum equals the output sum.
  func testConservesWhereZPlusLosesRelevance() throws {
    let d = Depthwise()
    var g = RuleMatrixTests.Generator(state: 41)
    let r = g.array(d.outputCount).map { abs($0) + 0.1 }
    let total = r.reduce(0, +)
    let x = Tensor(shape: [1, d.channels, d.h, d.wd], data: d.x), signals = Tensor(shape: x.shape, data: r)

    let zPlus = try d.plan(LinearRule(.zPlus), relu: true).explain(x, signals: signals, at: "y")
    XCTAssertGreaterThan(zPlus.layers.map(\.zeroDenominators).reduce(0, +), 0)
    XCTAssertLessThan(zPlus.input.data.reduce(0, +), 0.9 * total, "z⁺ should lose the empty windows' relevance")

    for eta in [Float(1e-6), 1e-3, 1] {
      let flat = try d.plan(LinearRule(.zPlusFlat(eta: eta)), relu: true).explain(x, signals: signals, at: "y")
      XCTAssertEqual(flat.input.data.reduce(0, +), total, accuracy: 1e-5 * total, "eta \(eta)")
      XCTAssertEqual(flat.layers.map(\.zeroDenominators).reduce(0, +), 0)
      XCTAssertTrue(flat.input.data.allSatisfy { $0 >= 0 }, "positive relevance stays positive")
    }
  }

  func testParsesWithRangeCheckedEta() throws {
    func rule(_ entry: String) throws -> RuleSpec {
      try RuleSet(yaml: "rules:\n  - {op: Conv, \(entry)}", source: "test.yaml").entries[0].rule
    }
    XCTAssertEqual(try rule("rule: zplus-flat, eta: 1.0e-6"), .linear(LinearRule(.zPlusFlat(eta: 1e-6))))
    XCTAssertEqual(try rule("rule: zplus-flat"), .linear(LinearRule(.zPlusFlat(eta: 1e-6))), "default eta")
    XCTAssertEqual(try rule("rule: zplus-flat, eta: 0.5, bias: true"), .linear(LinearRule(.zPlusFlat(eta: 0.5), bias: true)))
    for bad in ["eta: 0", "eta: -1", "eta: .nan", "eta: 1.0e-60"] {
      let text = message({ try rule("rule: zplus-flat, \(bad)") })
      XCTAssertTrue(text.hasPrefix("test.yaml") && text.contains("eta"), text)
    }
    XCTAssertTrue(message({ try rule("rule: zplus-flat, epsilon: 0.1") }).contains("epsilon"))
    XCTAssertTrue(message({ try rule("rule: zplus, eta: 0.1") }).contains("eta"))

    let r = Rule.linear(LinearRule(.zPlusFlat(eta: 1e-6)))
    XCTAssertEqual(r.catalogName, "zplus-flat")
    XCTAssertEqual(r.description, "zplus-flat(1e-06)")
    XCTAssertEqual(Rule.linear(LinearRule(.zPlusFlat(eta: 0.5), bias: true)).description, "zplus-flat(0.5) +bias")
    XCTAssertTrue(r.shouldConserve)
    XCTAssertFalse(r.losesOnlyAtZeroDenominators, "no zero denominators to excuse")
    XCTAssertFalse(Rule.linear(LinearRule(.zPlusFlat(eta: 1e-6), bias: true)).shouldConserve)
    XCTAssertTrue(r.isLinearInRelevance)
    XCTAssertEqual(LinearRule(.zPlusFlat(eta: 1e-6)).epsilon, 0, "no stabilizer")
  }
}
