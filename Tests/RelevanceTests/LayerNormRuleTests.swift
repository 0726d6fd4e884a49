import XCTest
@testable import Relevance

/// The `centering` rule (Ali et al. 2022's LN-rule) on a LayerNormalization node: against the
/// epsilon rule through the explicit N×N centering Jacobian, its conservation identity, its
/// zero denominators, and its place as the default on LayerNormalization.
final class LayerNormRuleTests: XCTestCase {
  /// A LayerNormalization over the axes from `axis` to the last of an input of `shape`, with
  /// random scale and bias (which the rule must ignore), compiled with `rule`.
  func plan(shape: [Int], axis: Int, rule: Rule?, seed: UInt64 = 5) throws -> RelevancePlan {
    var g = RuleMatrixTests.Generator(state: seed)
    let inner = shape[(axis < 0 ? axis + shape.count : axis)...].reduce(1, *)
    let node = Node(name: "ln", op: .layerNorm(axis: axis, epsilon: 1e-5), inputs: ["x", "scale", "bias"], outputs: ["y"],
                    sourceOpType: "LayerNormalization")
    let graph = Graph(name: "t", source: "test", input: "x", declaredInputShape: shape.map { .fixed($0) }, outputs: ["y"],
                      nodes: [node], constants: ["scale": Constant(shape: [inner], floats: g.array(inner).map { $0 + 1.5 }),
                                                 "bias": Constant(shape: [inner], floats: g.array(inner))],
                      opsetVersion: 17, producer: "test")
    let canonical = try Canonicalizer.canonicalize(graph, inputShape: shape)
    return try RelevancePlan(graph: canonical, rules: [rule])
  }

  /// R_in of the epsilon rule (ε = 1e-6, no bias) through the linear map z = J x of one slice,
  /// J = (I − 11ᵀ/N)/σ built entry by entry with σ = √(var(x) + 1e-5) held constant, in Double:
  /// R_i = Σ_j x_i J_ji / stab(z_j) · R_j.
  static func matrixForm(x: [Float], r: [Float]) -> [Float] {
    let n = x.count
    let mean = x.reduce(0.0) { $0 + Double($1) } / Double(n)
    let variance = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(n)
    let sigma = (variance + 1e-5).squareRoot()
    let jacobian = (0..<n).map { j in (0..<n).map { i in ((i == j ? 1 : 0) - 1 / Double(n)) / sigma } }
    return RuleMatrixTests.normalized(n, n, r, eps: 1e-6, bias: [Double](repeating: 0, count: n)) { i, j in
      Double(x[i]) * jacobian[j][i]
    }
  }

  func testCenteringMatchesTheEpsilonRuleThroughTheCenteringJacobian() throws {
    // The last axis (slices of 5), and the last two axes (slices of 12): the rule works per slice.
    for (shape, axis) in [([1, 3, 5], -1), ([1, 2, 3, 4], 2)] {
      let p = try plan(shape: shape, axis: axis, rule: .centering)
      var g = RuleMatrixTests.Generator(state: 9)
      let x = g.array(shape.elementCount).map { 2 * $0 + 0.3 }
      let k = 2, per = shape.elementCount
      let r = g.array(k * per)
      let result = try p.explain(Tensor(shape: shape, data: x), signals: Tensor(shape: [k] + shape.dropFirst(), data: r), at: "y")
      let n = per / shape.prefix(axis < 0 ? axis + shape.count : axis).reduce(1, *)
      for s in 0..<k {
        for o in 0..<(per / n) {
          let slice = (o * n)..<((o + 1) * n)
          let expected = Self.matrixForm(x: Array(x[slice]), r: Array(r[(s * per + o * n)..<(s * per + (o + 1) * n)]))
          let actual = Array(result.input.data[(s * per + o * n)..<(s * per + (o + 1) * n)])
          XCTAssertLessThan(relativeError(actual, expected), 1e-4, "shape \(shape), signal \(s), slice \(o)")
        }
      }
    }
  }

  /// Σ_j R_x_j = Σ_i s_i x̂_i with s_i = R_i / stab(x̂_i), so the loss per slice is at most
  /// ε Σ_i |s_i|; the layer sums show it conserving to 1e-4 on values away from 0.
  func testCenteringConservesUpToTheStabilizer() throws {
    let shape = [1, 4, 7]
    for seed in [UInt64(1), 2, 3] {
      let p = try plan(shape: shape, axis: -1, rule: .centering, seed: seed)
      var g = RuleMatrixTests.Generator(state: seed &+ 100)
      let x = g.array(shape.elementCount).map { 3 * $0 }
      let r = g.array(shape.elementCount)
      let result = try p.explain(Tensor(shape: shape, data: x), signals: Tensor(shape: shape, data: r), at: "y")
      for o in 0..<4 {
        let slice = Array(x[(o * 7)..<((o + 1) * 7)])
        let mean = slice.reduce(0.0) { $0 + Double($1) } / 7
        let sigma = (slice.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / 7 + 1e-5).squareRoot()
        var identity = 0.0, bound = 0.0, arriving = 0.0, passed = 0.0
        for i in 0..<7 {
          let normalized = (Double(slice[i]) - mean) / sigma
          let s = Double(r[o * 7 + i]) / (normalized >= 0 ? normalized + 1e-6 : normalized - 1e-6)
          identity += s * normalized
          bound += 1e-6 * abs(s)
          arriving += Double(r[o * 7 + i])
          passed += Double(result.input.data[o * 7 + i])
        }
        XCTAssertEqual(passed, identity, accuracy: 1e-5 * max(abs(identity), 1), "seed \(seed), slice \(o)")
        XCTAssertLessThanOrEqual(abs(identity - arriving), bound * (1 + 1e-9), "seed \(seed), slice \(o)")
      }
      let layer = try XCTUnwrap(result.layers.first)
      XCTAssertEqual(layer.zeroDenominators, 0)
      XCTAssertTrue(Rule.centering.shouldConserve)
      XCTAssertEqual(layer.inputSums[0], layer.outputSums[0], accuracy: 1e-4 * abs(layer.outputSums[0]), "seed \(seed)")
    }
  }

  /// A constant slice normalizes to x̂ = 0 everywhere: every s_i = R_i / ε, so the slice passes
  /// on Σ s_i x̂_i = 0 (its relevance is lost, counted as zero denominators) in values of order
  /// R / ε that cancel, as the epsilon rule through the Jacobian gives them.
  func testConstantSliceLosesItsRelevanceAtZeroDenominators() throws {
    let shape = [1, 2, 3]
    let p = try plan(shape: shape, axis: -1, rule: .centering)
    let x: [Float] = [0.5, 0.5, 0.5, 1, -2, 5]
    let r: [Float] = [1, 2, 3, 1, 1, 1]
    let result = try p.explain(Tensor(shape: shape, data: x), signals: Tensor(shape: shape, data: r), at: "y")
    let constant = Array(result.input.data[0..<3])
    XCTAssertLessThan(relativeError(constant, Self.matrixForm(x: Array(x[0..<3]), r: Array(r[0..<3]))), 1e-4)
    XCTAssertEqual(constant.reduce(0, +), 0, accuracy: 1e-6 * constant.map(abs).max()!)
    XCTAssertEqual(result.layers.first?.zeroDenominators, 3)
    XCTAssertEqual(result.input.data[3..<6].reduce(0, +), 3, accuracy: 1e-4)
  }

  /// LayerNormalization nodes default to `centering`; `pass` and `gradient` remain selectable.
  func testCenteringIsTheDefaultAndPassAndGradientAreSelectable() throws {
    let shape = [1, 3, 5]
    let graph = try plan(shape: shape, axis: -1, rule: nil).graph
    let none = try RuleSet(yaml: "rules:\n  - {op: Relu, rule: pass}", source: "test").assign(to: graph, preprocessing: nil)
    XCTAssertEqual(none.rules, [.centering])
    for (name, rule) in [("pass", Rule.pass), ("gradient", .gradient), ("centering", .centering)] {
      let set = try RuleSet(yaml: "rules:\n  - {op: LayerNormalization, rule: \(name)}", source: "test")
      XCTAssertEqual(try set.assign(to: graph, preprocessing: nil).rules, [rule])
    }
    // A plan compiled without a rule for the node uses the default too.
    var g = RuleMatrixTests.Generator(state: 4)
    let x = Tensor(shape: shape, data: g.array(15)), r = Tensor(shape: shape, data: g.array(15))
    let byDefault = try plan(shape: shape, axis: -1, rule: nil).explain(x, signals: r, at: "y").input
    let explicit = try plan(shape: shape, axis: -1, rule: .centering).explain(x, signals: r, at: "y").input
    let passed = try plan(shape: shape, axis: -1, rule: .pass).explain(x, signals: r, at: "y").input
    XCTAssertEqual(byDefault.data, explicit.data)
    XCTAssertNotEqual(byDefault.data, passed.data)
    XCTAssertThrowsError(try plan(shape: shape, axis: -1, rule: .proportional))
  }
}
