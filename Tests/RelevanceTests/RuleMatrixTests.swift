import XCTest
@testable import Relevance

/// Every linear rule against its formula written out in matrix form, on a dense layer and on
/// a padded, strided convolution unrolled into its matrix; independent of the runtime's kernels.
final class RuleMatrixTests: XCTestCase {
  struct Generator {
    var state: UInt64
    mutating func next() -> Float {
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return Float((state >> 40) % 20001) / 10000 - 1
    }
    mutating func array(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
  }

  /// R_i = Σ_j contribution(i, j) / stab(Σ_i' contribution(i', j) + bias_j) · R_j, in Double.
  static func normalized(_ n: Int, _ m: Int, _ r: [Float], eps: Double, bias: [Double],
                         _ contribution: (Int, Int) -> Double) -> [Float] {
    var result = [Double](repeating: 0, count: n)
    for j in 0..<m {
      var z = bias[j]
      for i in 0..<n { z += contribution(i, j) }
      let stab = z >= 0 ? z + eps : z - eps
      for i in 0..<n { result[i] += contribution(i, j) / stab * Double(r[j]) }
    }
    return result.map { Float($0) }
  }

  /// The reference R_in of `rule` for input a (n), weights w[i][j] (n x m), bias b (m), R (m).
  /// `connected(i, j)`: whether input i feeds output j (the flat rule's unit weights).
  static func reference(_ rule: LinearRule, a: [Float], w: [[Float]], b: [Float], r: [Float],
                        connected: (Int, Int) -> Bool = { _, _ in true }) -> [Float] {
    let n = a.count, m = r.count
    let eps = Double(rule.epsilon)
    func pos(_ x: Float) -> Double { Double(max(x, 0)) }
    func neg(_ x: Float) -> Double { Double(min(x, 0)) }
    let zeroBias = [Double](repeating: 0, count: m)
    switch rule.kind {
    case .epsilon:
      return normalized(n, m, r, eps: eps, bias: rule.bias ? b.map(Double.init) : zeroBias) { Double(a[$0]) * Double(w[$0][$1]) }
    case .gamma(let g):
      let wg = w.map { $0.map { $0 + g * max($0, 0) } }
      return normalized(n, m, r, eps: eps, bias: rule.bias ? b.map { Double($0 + g * max($0, 0)) } : zeroBias) { Double(a[$0]) * Double(wg[$0][$1]) }
    case .zPlus:
      return normalized(n, m, r, eps: eps, bias: rule.bias ? b.map(pos) : zeroBias) { pos(a[$0]) * pos(w[$0][$1]) + neg(a[$0]) * neg(w[$0][$1]) }
    case .zPlusFlat(let eta):
      return normalized(n, m, r, eps: eps, bias: rule.bias ? b.map(pos) : zeroBias) {
        connected($0, $1) ? pos(a[$0]) * pos(w[$0][$1]) + neg(a[$0]) * neg(w[$0][$1]) + Double(eta) : 0
      }
    case .alphaBeta(let alpha, let beta):
      let p = normalized(n, m, r, eps: eps, bias: rule.bias ? b.map(pos) : zeroBias) { pos(a[$0]) * pos(w[$0][$1]) + neg(a[$0]) * neg(w[$0][$1]) }
      let q = normalized(n, m, r, eps: eps, bias: rule.bias ? b.map(neg) : zeroBias) { pos(a[$0]) * neg(w[$0][$1]) + neg(a[$0]) * pos(w[$0][$1]) }
      return (0..<n).map { alpha * p[$0] - beta * q[$0] }
    case .zBox(let low, let high):
      return normalized(n, m, r, eps: eps, bias: rule.bias ? b.map(Double.init) : zeroBias) { i, j in
        Double(a[i]) * Double(w[i][j]) - Double(low[0]) * pos(w[i][j]) - Double(high[0]) * neg(w[i][j])
      }
    case .wSquare:
      return normalized(n, m, r, eps: eps, bias: zeroBias) { Double(w[$0][$1]) * Double(w[$0][$1]) }
    case .flat:
      return normalized(n, m, r, eps: eps, bias: zeroBias) { connected($0, $1) ? 1 : 0 }
    case .gradient:
      return (0..<n).map { i in Float((0..<m).reduce(0.0) { $0 + Double(w[i][$1]) * Double(r[$1]) }) }
    }
  }

  static let rules: [LinearRule] = [
    LinearRule(.epsilon(0.01)), LinearRule(.epsilon(0)), LinearRule(.epsilon(0.1), bias: false),
    LinearRule(.zPlus), LinearRule(.zPlus, bias: true), LinearRule(.alphaBeta(alpha: 2, beta: 1)),
    LinearRule(.alphaBeta(alpha: 1, beta: 0), bias: true), LinearRule(.zBox(low: [-1.5], high: [1.5])),
    LinearRule(.wSquare), LinearRule(.flat), LinearRule(.gamma(0.25)), LinearRule(.gradient),
    LinearRule(.zPlusFlat(eta: 1e-6)), LinearRule(.zPlusFlat(eta: 0.5)), LinearRule(.zPlusFlat(eta: 0.5), bias: true),
  ]

  func plan(_ node: Node, constants: [ValueName: Constant], inputShape: [Int], rule: LinearRule) throws -> RelevancePlan {
    let graph = Graph(name: "t", source: "test", input: "x", declaredInputShape: inputShape.map { .fixed($0) },
                      outputs: ["y"], nodes: [node], constants: constants, opsetVersion: 13, producer: "test")
    let canonical = try Canonicalizer.canonicalize(graph, inputShape: inputShape)
    return try RelevancePlan(graph: canonical, rules: [.linear(rule)])
  }

  func testDenseRulesMatchMatrixForm() throws {
    var g = Generator(state: 7)
    let (n, m, k) = (6, 4, 3)
    let a = g.array(n), wFlat = g.array(m * n), b = g.array(m)
    let w = (0..<n).map { i in (0..<m).map { j in wFlat[j * n + i] } }  // w[i][j] = W[j, i]
    let signals = g.array(k * m)
    let node = Node(name: "fc", op: .dense, inputs: ["x", "W", "b"], outputs: ["y"], sourceOpType: "Gemm")
    for rule in Self.rules {
      let p = try plan(node, constants: ["W": Constant(shape: [m, n], floats: wFlat), "b": Constant(shape: [m], floats: b)],
                       inputShape: [1, n], rule: rule)
      let result = try p.explain(Tensor(shape: [1, n], data: a), signals: Tensor(shape: [k, m], data: signals), at: "y")
      for s in 0..<k {
        let expected = Self.reference(rule, a: a, w: w, b: b, r: Array(signals[(s * m)..<((s + 1) * m)]))
        let actual = Array(result.input.data[(s * n)..<((s + 1) * n)])
        XCTAssertLessThan(relativeError(actual, expected), 1e-4, "\(rule), signal \(s)")
      }
    }
  }

  func testConvRulesMatchUnrolledMatrixForm() throws {
    // Stride 2 runs the transposed pass as GEMM + col2im; stride 1 as a flipped convolution.
    try checkConvRules(strideH: 2)
    try checkConvRules(strideH: 1)
  }

  func checkConvRules(strideH: Int) throws {
    var g = Generator(state: 11)
    let (c, h, wd, mOut, kh) = (2, 5, 4, 3, 3)
    let window = Window2D(kernelH: kh, kernelW: kh, strideH: strideH, strideW: 1, padTop: 1, padLeft: 0, padBottom: 2, padRight: 1)
    let (oh, ow) = window.outputSize(height: h, width: wd)
    let a = g.array(c * h * wd), weight = g.array(mOut * c * kh * kh), b = g.array(mOut)
    let n = c * h * wd, m = mOut * oh * ow
    // Unrolled matrix: w[i][j] for input i = (ci, y, x), output j = (mo, oy, ox); padding taps vanish.
    var w = [[Float]](repeating: [Float](repeating: 0, count: m), count: n)
    var connected = [[Bool]](repeating: [Bool](repeating: false, count: m), count: n)
    for mo in 0..<mOut { for oy in 0..<oh { for ox in 0..<ow { for ci in 0..<c { for i in 0..<kh { for j in 0..<kh {
      let y = oy * strideH - 1 + i, x = ox - 0 + j
      guard y >= 0, y < h, x >= 0, x < wd else { continue }
      w[(ci * h + y) * wd + x][(mo * oh + oy) * ow + ox] = weight[((mo * c + ci) * kh + i) * kh + j]
      connected[(ci * h + y) * wd + x][(mo * oh + oy) * ow + ox] = true
    } } } } } }
    let biasPerOutput = (0..<m).map { b[$0 / (oh * ow)] }
    let r = g.array(m)
    let node = Node(name: "conv", op: .conv(Conv2D(window: window, group: 1, autoPad: .explicit)),
                    inputs: ["x", "W", "b"], outputs: ["y"], sourceOpType: "Conv")
    for rule in Self.rules {
      let p = try plan(node, constants: ["W": Constant(shape: [mOut, c, kh, kh], floats: weight), "b": Constant(shape: [mOut], floats: b)],
                       inputShape: [1, c, h, wd], rule: rule)
      let result = try p.explain(Tensor(shape: [1, c, h, wd], data: a), signals: Tensor(shape: [1, mOut, oh, ow], data: r), at: "y")
      let expected = Self.reference(rule, a: a, w: w, b: biasPerOutput, r: r, connected: { connected[$0][$1] })
      XCTAssertLessThan(relativeError(result.input.data, expected), 1e-4, "\(rule), stride \(strideH)")
    }
  }

  /// ConvTranspose (stride 2, padding, output_padding) under every linear rule against its
  /// unrolled matrix: input (ci, y, x) feeds output (co, y·2 − 1 + a, x·2 + b).
  func testConvTransposeRulesMatchUnrolledMatrixForm() throws {
    var g = Generator(state: 13)
    let (cin, h, wd, cout, k) = (2, 3, 3, 3, 3)
    let window = Window2D(kernelH: k, kernelW: k, strideH: 2, strideW: 2, padTop: 1, padLeft: 0, padBottom: 1, padRight: 1)
    let t = ConvTranspose2D(window: window, group: 1, outputPadding: [1, 0])
    let oh = 2 * (h - 1) + 1 + (k - 1) + 1 - 2, ow = 2 * (wd - 1) + 0 + (k - 1) + 1 - 1
    let a = g.array(cin * h * wd), weight = g.array(cin * cout * k * k), b = g.array(cout)
    let n = cin * h * wd, m = cout * oh * ow
    var w = [[Float]](repeating: [Float](repeating: 0, count: m), count: n)
    var connected = [[Bool]](repeating: [Bool](repeating: false, count: m), count: n)
    for ci in 0..<cin { for y in 0..<h { for x in 0..<wd { for co in 0..<cout { for i in 0..<k { for j in 0..<k {
      let oy = y * 2 - 1 + i, ox = x * 2 + j
      guard oy >= 0, oy < oh, ox >= 0, ox < ow else { continue }
      w[(ci * h + y) * wd + x][(co * oh + oy) * ow + ox] += weight[((ci * cout + co) * k + i) * k + j]
      connected[(ci * h + y) * wd + x][(co * oh + oy) * ow + ox] = true
    } } } } } }
    let biasPerOutput = (0..<m).map { b[$0 / (oh * ow)] }
    let r = g.array(m)
    let node = Node(name: "up", op: .convTranspose(t), inputs: ["x", "W", "b"], outputs: ["y"], sourceOpType: "ConvTranspose")
    for rule in Self.rules {
      let p = try plan(node, constants: ["W": Constant(shape: [cin, cout, k, k], floats: weight), "b": Constant(shape: [cout], floats: b)],
                       inputShape: [1, cin, h, wd], rule: rule)
      XCTAssertEqual(p.graph.shapes["y"], [1, cout, oh, ow])
      let result = try p.explain(Tensor(shape: [1, cin, h, wd], data: a), signals: Tensor(shape: [1, cout, oh, ow], data: r), at: "y")
      let expected = Self.reference(rule, a: a, w: w, b: biasPerOutput, r: r, connected: { connected[$0][$1] })
      XCTAssertLessThan(relativeError(result.input.data, expected), 1e-4, "\(rule)")
    }
  }

  /// The flipped-kernel convolution equals the GEMM + col2im transposed convolution, with groups
  /// and depthwise.
  func testTransposedConvolutionAsConvolution() throws {
    var g = Generator(state: 3)
    let window = Window2D(kernelH: 3, kernelW: 2, padTop: 2, padLeft: 0, padBottom: 1, padRight: 1)
    for (group, weightShape) in [(2, [32, 16, 3, 2]), (32, [32, 1, 3, 2])] {
      let conv = Conv2D(window: window, group: group, autoPad: .explicit)
      let weight = Tensor(shape: weightShape, data: g.array(weightShape.elementCount))
      let inputShape = [3, 32, 7, 5]
      let (oh, ow) = window.outputSize(height: 7, width: 5)
      let s = Tensor(shape: [3, 32, oh, ow], data: g.array(3 * 32 * oh * ow))
      let t = try XCTUnwrap(TransposedConvolution(conv, weightShape: weight.shape))
      let viaConv = Kernels.conv2d(s, weight: t.weight(from: weight), bias: nil, window: t.window, group: t.group)
      let viaGEMM = Kernels.conv2dTransposedInput(s, weight: weight, window: window, group: group, inputShape: inputShape)
      XCTAssertEqual(viaConv.shape, inputShape)
      XCTAssertLessThan(relativeError(viaConv.data, viaGEMM.data), 1e-5, "group \(group)")
    }
  }
}

/// The `uniform` pooling rule is the average-pool gradient: for every x and output relevance r,
/// ⟨avgPool(x), r⟩ = ⟨x, R_uniform(r)⟩, with padding counted as the forward pass counts it.
final class UniformPoolingTests: XCTestCase {
  func testUniformIsTheAdjointOfAveragePooling() throws {
    var g = RuleMatrixTests.Generator(state: 21)
    for countIncludePad in [false, true] {
      let window = Window2D(kernelH: 3, kernelW: 2, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 0, ceilMode: true)
      let shape = [1, 2, 7, 6]
      let node = Node(name: "pool", op: .avgPool(Pool2D(window: window, autoPad: .explicit, countIncludePad: countIncludePad)),
                      inputs: ["x"], outputs: ["y"], sourceOpType: "AveragePool")
      let graph = Graph(name: "t", source: "test", input: "x", declaredInputShape: shape.map { .fixed($0) },
                        outputs: ["y"], nodes: [node], constants: [:], opsetVersion: 13, producer: "test")
      let canonical = try Canonicalizer.canonicalize(graph, inputShape: shape)
      let plan = try RelevancePlan(graph: canonical, rules: [.uniform])
      let x = Tensor(shape: shape, data: g.array(shape.elementCount))
      let y = try plan.forward.run(x)["y"]!
      let r = Tensor(shape: y.shape, data: g.array(y.count))
      let relevance = try plan.explain(x, signals: r, at: "y").input
      let left = zip(y.data, r.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
      let right = zip(x.data, relevance.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
      XCTAssertEqual(left, right, accuracy: 1e-5 * max(abs(left), 1), "count_include_pad \(countIncludePad)")
    }
  }
}
