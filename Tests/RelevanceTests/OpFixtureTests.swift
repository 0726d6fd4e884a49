import Foundation
import XCTest
@testable import Relevance

/// The zoo's ops on tiny torch exports (`Graphs/op_fixtures.py`, `Tests/Fixtures/ops`): forward
/// logits against onnxruntime, the `gradient` preset against torch autograd, the fusion passes,
/// and the gate and residual rules (conservation, and their formulas on one node).
final class OpFixtureTests: XCTestCase {
  struct Case: Decodable { var opset: Int; var target: Int }

  static func cases() throws -> [String: Case] {
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("ops/manifest.json")))
    return try JSONDecoder().decode([String: Case].self, from: data)
  }

  func load(_ name: String) throws -> (Graph, Tensor) {
    let model = try Model(path: Fixtures.path("ops/\(name).onnx"))
    let input = try NPY.read(path: Fixtures.path("ops/\(name).input.npy"))
    return (try model.canonical(inputShape: input.shape), input)
  }

  func testForwardMatchesOnnxRuntime() throws {
    let cases = try Self.cases()
    XCTAssertGreaterThanOrEqual(cases.count, 23)
    for name in cases.keys.sorted() {
      let (graph, input) = try load(name)
      let logits = try XCTUnwrap(try ForwardPlan(graph: graph).run(input)[graph.outputs[0]], name)
      let expected = try NPY.read(path: Fixtures.path("ops/\(name).logits.npy"))
      XCTAssertLessThan(relativeError(logits.data, expected.data), 1e-5, name)
    }
  }

  /// The gradient preset's relevance is logit · ∂logit/∂x (the signal starts at the logit).
  func testGradientPresetMatchesTorchAutograd() throws {
    for (name, c) in try Self.cases().sorted(by: { $0.key < $1.key }) {
      let (graph, input) = try load(name)
      let rules = try RuleSet.load(nameOrPath: "gradient").assign(to: graph, preprocessing: nil)
      let plan = try RelevancePlan(graph: graph, rules: rules.rules)
      let result = try plan.explain(input, classes: [c.target])
      let logit = result.forward[graph.outputs[0]]!.data[c.target]
      let expected = try NPY.read(path: Fixtures.path("ops/\(name).gradient.npy"))
      let gradient = result.input.data.map { $0 / logit }
      XCTAssertLessThan(relativeError(gradient, expected.data), 1e-4, name)
    }
  }

  func testExportedDecompositionsAreFused() throws {
    let (silu, _) = try load("silu")
    XCTAssertEqual(silu.nodes.filter { $0.op == .silu }.count, 2)
    XCTAssertFalse(silu.nodes.contains { $0.op == .sigmoid || $0.op == .elementwise(.mul) })
    for name in ["gelu_erf", "gelu_opset20"] {
      let (gelu, _) = try load(name)
      XCTAssertEqual(gelu.nodes.filter { $0.op == .activation(Activation(GELU(tanhApproximation: false))) }.count, 2, name)
      XCTAssertFalse(gelu.nodes.contains { if case .elementwise = $0.op { return true } else { return false } }, name)
    }
    for name in ["gelu_tanh_opset20", "gelu_tanh", "gelu_tanh_dynamo"] {
      let (tanhGelu, _) = try load(name)
      XCTAssertEqual(tanhGelu.nodes.filter { $0.op == .activation(Activation(GELU(tanhApproximation: true))) }.count, 2, name)
      XCTAssertFalse(tanhGelu.nodes.contains { if case .elementwise = $0.op { return true } else { return false } }, name)
    }
    // PRelu with one slope ([1] and [6, 1, 1] with equal channels) is LeakyRelu(slope).
    for name in ["prelu", "prelu_channels"] {
      let (prelu, _) = try load(name)
      let leaky = prelu.nodes.compactMap { if case .activation(let a) = $0.op, a.name == "LeakyRelu" { return a.parameters } else { return nil } }
      XCTAssertEqual(leaky, [[0.5], [0.5]], name)  // torch's initial slope 0.25, doubled by the script
    }
    // Distinct per-channel slopes stay a PRelu (both uses of the shared slope).
    let (distinct, _) = try load("prelu_distinct_channels")
    XCTAssertEqual(distinct.nodes.filter { $0.op == .prelu }.count, 2)
    // Upsample (opset 7: scales attribute; 9: input) and Resize-10 are nearest Resizes,
    // asymmetric and floor.
    for name in ["upsample_opset7", "upsample_opset9", "upsample_opset10"] {
      let (upsample, _) = try load(name)
      let resizes = upsample.nodes.compactMap { $0.op.definition(as: Resize2D.self) }
      XCTAssertEqual(resizes.map(\.mode), [.nearest], name)
      XCTAssertEqual(resizes.map(\.coordinates), [.asymmetric], name)
      XCTAssertEqual(resizes.first?.outputSize, [16, 16], name)
    }
    // ConvNeXt: the Linear layers (MatMul on NHWC) become 1×1 convs with their bias folded in,
    // LayerNorm stays, GELU is fused.
    for name in ["convnext_block", "convnext_block_dynamo"] {
    let (convnext, _) = try load(name)
    XCTAssertFalse(convnext.nodes.contains { $0.op == .matMul || $0.op == .elementwise(.add) && $0.inputs.contains(where: convnext.isConstant) })
    let pointwise = convnext.nodes.filter { if case .conv(let c) = $0.op { return c.window.kernelH == 1 } else { return false } }
    XCTAssertEqual(pointwise.map(\.sourceOpType), ["MatMul", "MatMul"])
    // The pair around GELU cancelled; left: those around the three LayerNorms (on NHWC) and the
    // adjacent pair before the layer scale (see CancelTransposes).
    XCTAssertEqual(convnext.nodes.filter { if case .transpose = $0.op { return true } else { return false } }.count, 8)
    XCTAssertTrue(pointwise.allSatisfy { $0.inputs.count == 3 }, "bias folded")
    XCTAssertEqual(convnext.nodes.filter { $0.op.name == "LayerNormalization" }.count, 3)
    XCTAssertEqual(convnext.nodes.filter { $0.op == .activation(Activation(GELU(tanhApproximation: false))) }.count, 1)
    XCTAssertFalse(convnext.nodes.contains { if case .gather = $0.op { return true } else { return false } })
    }
    // ReduceMax over the plane is a max pool over the whole plane (torch writes adaptive max
    // pooling as MaxPool; GlobalMaxPool is tested in PassTests).
    let (maxPooling, _) = try load("global_max_pooling")
    XCTAssertEqual(maxPooling.nodes.filter { if case .maxPool(let p) = $0.op { return p.window.kernelH == 8 } else { return false } }
      .map(\.sourceOpType).sorted(), ["MaxPool", "ReduceMax"])
    // Max/Min against scalars are clips.
    let (clips, _) = try load("min_max_clip")
    XCTAssertEqual(Set(clips.nodes.compactMap { if case .activation(let a) = $0.op { return a.description } else { return nil } }),
                   Set([Clip(low: 0, high: .infinity), Clip(low: -.infinity, high: 1.5), Clip(low: -0.5, high: .infinity)].map { Activation($0).description }))
    // A gate is not a SiLU: Mul(x, Sigmoid(y)) stays a Mul.
    let (se, _) = try load("se_sigmoid")
    XCTAssertEqual(se.nodes.filter { $0.op == .elementwise(.mul) }.count, 1)
  }

  /// Every node whose rule should conserve does, on the SE blocks and the signed residual, for
  /// each gate and residual rule.
  func testGateAndResidualRulesConserve() throws {
    for (name, extra) in [("se_sigmoid", "{op: Mul, rule: signal}"), ("se_sigmoid", "{op: Mul, rule: equal}"),
                          ("se_hardsigmoid", "{op: Mul, rule: equal}"), ("signed_residual", "{op: Add, rule: abs-proportional}"),
                          ("signed_residual", "{op: Add, rule: equal}"), ("signed_residual", "{op: Add, rule: proportional}"),
                          ("convnext_block", "{op: Add, rule: abs-proportional}"),
                          ("convnext_block_dynamo", "{op: Add, rule: equal}"), ("resize", "{op: Resize, rule: pass}"),
                          ("conv_transpose", "{op: ConvTranspose, rule: zplus}")] {
      let (graph, input) = try load(name)
      let rules = try RuleSet(yaml: """
        rules:
          - \(extra)
          - {op: Dense, rule: wsquare}
          - {op: linear, rule: zplus}
          - {op: [AveragePool, GlobalAveragePool], rule: proportional}
        """, source: "test").assign(to: graph, preprocessing: nil)
      let plan = try RelevancePlan(graph: graph, rules: rules.rules)
      XCTAssertTrue(plan.isLinearInRelevance)
      let result = try plan.explain(input, classes: [0, 2])
      let checked = assertConservingLayersConserve(result, graph: graph, rules: rules, context: "\(name) \(extra)")
        .filter { ["Mul", "Add", "Resize", "ConvTranspose"].contains($0) }.count
      // Nodes with zero denominators (z⁺ where every product is negative) are not checked.
      XCTAssertEqual(checked, ["resize": 3, "conv_transpose": 1][name] ?? 1, "\(name) \(extra)")
    }
  }

  /// The gate and residual steps on one node against their formulas written out elementwise.
  func testGateAndResidualStepsMatchTheirFormulas() throws {
    var state: UInt64 = 17
    func random(_ n: Int) -> [Float] {
      (0..<n).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float((state >> 40) % 2001) / 1000 - 1
      }
    }
    // SE gate: signal [1, 8, 8, 8] times gate [1, 8, 1, 1]; K = 2 signals.
    let (se, _) = try load("se_sigmoid")
    let plan = try RelevancePlan(graph: se, rules: try RuleSet.load(nameOrPath: "zplus").assign(to: se, preprocessing: nil).rules)
    let mul = se.nodes.first { $0.op == .elementwise(.mul) }!
    let (signal, gate) = try RelevancePlan.gateOperands(mul, graph: se)
    XCTAssertEqual(se.shapes[mul.inputs[gate]], [1, 8, 1, 1])
    let a = Tensor(shape: [1, 8, 8, 8], data: random(512)), g = Tensor(shape: [1, 8, 1, 1], data: random(8))
    let values = [mul.inputs[signal]: a, mul.inputs[gate]: g]
    let r = Tensor(shape: [2, 8, 8, 8], data: random(1024))
    var zeros = ZeroDenominators(signals: 2)
    func contribution(_ step: RelevancePlan.Backward) -> [ValueName: Tensor] {
      Dictionary(uniqueKeysWithValues: plan.backward(step, node: mul, r, values, 2, zeros: &zeros).map { ($0.0, $0.1) })
    }
    let equal = contribution(.gate(signal: signal, share: 0.5))
    XCTAssertEqual(equal[mul.inputs[signal]]!.data, r.data.map { $0 / 2 })
    for k in 0..<2 {
      for c in 0..<8 {
        let expected = (0..<64).reduce(Float(0)) { $0 + r.data[k * 512 + c * 64 + $1] / 2 }
        XCTAssertEqual(equal[mul.inputs[gate]]!.data[k * 8 + c], expected, accuracy: 1e-5)
      }
    }
    let onlySignal = contribution(.gate(signal: signal, share: 1))
    XCTAssertEqual(onlySignal[mul.inputs[signal]]!.data, r.data)
    XCTAssertNil(onlySignal[mul.inputs[gate]])
    let product = contribution(.productGradient)
    for k in 0..<2 {
      for c in 0..<8 {
        var toGate: Float = 0
        for i in 0..<64 {
          let o = k * 512 + c * 64 + i
          XCTAssertEqual(product[mul.inputs[signal]]!.data[o], r.data[o] * g.data[c], accuracy: 1e-6)
          toGate += r.data[o] * a.data[c * 64 + i]
        }
        XCTAssertEqual(product[mul.inputs[gate]]!.data[k * 8 + c], toGate, accuracy: 1e-4)
      }
    }

    // Residual: R_a = |a| / (|a| + |b|) · R.
    let (residual, _) = try load("signed_residual")
    let rplan = try RelevancePlan(graph: residual, rules: try RuleSet.load(nameOrPath: "zplus").assign(to: residual, preprocessing: nil).rules)
    let add = residual.nodes.first { $0.op == .elementwise(.add) }!
    let shape = residual.shapes[add.output]!
    let n = shape.elementCount
    let x = Tensor(shape: shape, data: random(n)), y = Tensor(shape: shape, data: random(n))
    let rr = Tensor(shape: [1] + shape.dropFirst(), data: random(n))
    let split = Dictionary(uniqueKeysWithValues: rplan.backward(.residualAbsSplit, node: add, rr, [add.inputs[0]: x, add.inputs[1]: y], 1, zeros: &zeros).map { ($0.0, $0.1) })
    for i in 0..<n {
      let expected = abs(x.data[i]) / (abs(x.data[i]) + abs(y.data[i])) * rr.data[i]
      XCTAssertEqual(split[add.inputs[0]]!.data[i], expected, accuracy: 1e-5)
      XCTAssertEqual(split[add.inputs[0]]!.data[i] + split[add.inputs[1]]!.data[i], rr.data[i], accuracy: 1e-5)
      // Never flips the sign of R.
      XCTAssertGreaterThanOrEqual(split[add.inputs[0]]!.data[i] * rr.data[i], 0)
    }
  }

  func testDefaultsAndRefusals() throws {
    let (se, _) = try load("se_sigmoid")
    let assignment = try RuleSet.load(nameOrPath: "zplus").assign(to: se, preprocessing: nil)
    let mulIndex = se.nodes.firstIndex { $0.op == .elementwise(.mul) }!
    XCTAssertEqual(assignment.rules[mulIndex], .signal)
    XCTAssertEqual(assignment.reasons[mulIndex], "default: signal")
    let (residual, _) = try load("signed_residual")
    let addIndex = residual.nodes.firstIndex { $0.op == .elementwise(.add) }!
    XCTAssertEqual(try RuleSet.load(nameOrPath: "zplus").assign(to: residual, preprocessing: nil).rules[addIndex], .proportional)
    // A gate rule on an Add, a residual rule on a gate: refused when the plan is built.
    var rules = assignment.rules
    rules[mulIndex] = .absProportional
    XCTAssertTrue(message { try RelevancePlan(graph: se, rules: rules) }.contains("rule 'abs-proportional' cannot serve a Mul node"))
    // Equal shapes and no [0, 1]-bounded operand: which one is the gate is ambiguous.
    var ambiguous = se
    ambiguous.nodes[mulIndex].inputs = [ambiguous.nodes[mulIndex].inputs.first { se.shapes[$0] == se.shapes[se.nodes[mulIndex].output] }!]
    ambiguous.nodes[mulIndex].inputs.append(ambiguous.nodes[mulIndex].inputs[0])
    XCTAssertTrue(message { try RelevancePlan.gateOperands(ambiguous.nodes[mulIndex], graph: ambiguous) }.contains("cannot tell the gate from the signal"))
  }
}
