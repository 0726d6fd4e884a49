import Foundation
import XCTest
@testable import Relevance

/// The op registry (`OperatorRegistry.all`) and the ops added through it: elementwise Max/Min of
/// activations and ReduceMax/ReduceMin over any axes. Forward values are checked against ONNX's
/// reference by `ONNXNodeCaseTests` (test_max_*, test_min_*, test_reduce_max_*, test_reduce_min_*)
/// and against `ReferenceInterpreter` here; relevance against naive loops written here from the
/// winner-take-all definition, central differences (gradient) and conservation through a plan.
final class RegisteredOpTests: XCTestCase {
  // MARK: The registry is the one place

  /// Everything derived from the registry agrees with it: the importer's supported list, the rule
  /// vocabulary and families, and the Python copy of the importer's list (the node-case manifest).
  func testEverythingReadsTheRegistry() throws {
    var seen = Set<String>()
    for type in OperatorRegistry.all {
      XCTAssertFalse(type.onnxNames.isEmpty, "\(type)")
      for onnx in type.onnxNames {
        XCTAssertTrue(ONNXImporter.supportedOperators.contains(onnx), onnx)
        XCTAssertFalse(ONNXImporter.structuralOperators.contains(onnx), "\(onnx) has a case in the importer's switch too")
        XCTAssertNil(ActivationRegistry.type(onnx: onnx), "\(onnx) is an activation too")
        XCTAssertTrue(OperatorRegistry.type(onnx: onnx) == type, onnx)
      }
      for name in type.opNames {
        XCTAssertTrue(seen.insert(name).inserted, "\(name) registered twice")
        XCTAssertTrue(RuleSet.opNames.contains(name), name)
        XCTAssertEqual(RuleTarget.targets(opName: name), [type.ruleTarget], name)
        XCTAssertEqual(try RuleSet.resolveOp(name.lowercased()), [name])
      }
    }
    XCTAssertEqual(RuleSet.opNames.count, Set(RuleSet.opNames).count, "an op name is listed twice")
    struct Manifest: Decodable { let supported_by_importer: [String] }
    let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("onnx-node-cases/manifest.json"))))
    XCTAssertEqual(manifest.supported_by_importer.sorted(), ONNXImporter.supportedOperators,
                   "IMPORTED_OPS in Graphs/onnx_node_cases.py differs from the importer: rerun the script")
  }

  /// Registered ops compare by kind and attributes; `Op.name` is the definition's name.
  func testRegisteredOpsEquality() {
    XCTAssertEqual(Op.reduceMax(axes: [1], keepDims: true, noopWithEmptyAxes: false), .reduceMax(axes: [1], keepDims: true, noopWithEmptyAxes: false))
    XCTAssertNotEqual(Op.reduceMax(axes: [1], keepDims: true, noopWithEmptyAxes: false), .reduceMin(axes: [1], keepDims: true, noopWithEmptyAxes: false))
    XCTAssertNotEqual(Op.reduceMax(axes: [1], keepDims: true, noopWithEmptyAxes: false), .reduceMax(axes: [1], keepDims: false, noopWithEmptyAxes: false))
    XCTAssertNotEqual(Op.registered(ElementwiseExtremum(kind: .max)), .registered(ElementwiseExtremum(kind: .min)))
    XCTAssertNotEqual(Op.lrn(LRNParameters(size: 3, alpha: 1, beta: 1, bias: 1)), .registered(ElementwiseExtremum(kind: .max)))
    XCTAssertEqual(Op.registered(ElementwiseExtremum(kind: .min)).name, "Min")
    XCTAssertEqual(Op.reduceMin(axes: nil, keepDims: true, noopWithEmptyAxes: false).name, "ReduceMin")
  }

  /// Shape inference writes the resolved op into the node (LayerNormalization's negative axis
  /// becomes non-negative), and a moved op keeps its rule family (`layerNorm`: default centering).
  func testShapeInferenceResolvesAttributes() throws {
    var b = GraphBuilder(seed: 2)
    let y = b.add(.layerNorm(axis: -1, epsilon: 1e-5), [b.input, b.weights([5])], name: "ln")
    let graph = try Canonicalizer.canonicalize(b.graph([1, 3, 4, 5], outputs: [y]), inputShape: [1, 3, 4, 5])
    let node = try XCTUnwrap(graph.nodes.first { $0.name == "ln" })
    XCTAssertEqual(node.op, .layerNorm(axis: 3, epsilon: 1e-5))
    XCTAssertEqual(RuleTarget(node, in: graph), .layerNorm)
    XCTAssertEqual(RuleTarget(node, in: graph).defaultRule, .centering)
  }

  // MARK: Max and Min of activations

  /// Max/Min of three activations, one broadcast along the channels: the forward plan matches
  /// the reference interpreter, and `pass` and `gradient` route each output's relevance to the
  /// inputs attaining the extremum, ties split equally, broadcast shares summed: as naive loops.
  func testMaxMinRouteToTheWinnersWithTiesSplit() throws {
    for kind in [ElementwiseExtremum.Kind.max, .min] {
      var b = GraphBuilder(seed: 3)
      let a = b.add(.relu, [b.input], name: "a")
      let c = b.add(.clip(min: 0.2, max: .infinity), [b.input], name: "c")  // ties with a where x >= 0.2
      let m = b.add(.reduceMax(axes: [1], keepDims: true, noopWithEmptyAxes: false), [b.input], name: "m")
      let y = b.add(.registered(ElementwiseExtremum(kind: kind)), [a, c, m], name: "y")
      let shape = [1, 2, 3, 3]
      var graph = b.graph(shape, outputs: [y])
      let canonical = try Canonicalizer.canonicalize(graph, inputShape: shape)
      try Canonicalizer.bindInput(&graph, shape)
      var rng = SeededRandom(seed: 11)
      // Values on a grid of 0.25 so that ties happen between every pair of inputs.
      let input = Tensor(shape: shape, data: (0..<18).map { _ in Float(rng.int(-4...4)) / 4 })
      let expected = try ReferenceInterpreter(graph: graph).outputs(input)[0]
      let values = try ForwardPlan(graph: canonical, keep: [a, c, m]).run(input, keep: [a, c, m])
      XCTAssertEqual(values[canonical.outputs[0]]!.data, expected.data, "\(kind) forward")

      let k = 2
      let r = rng.tensor([k, 2, 3, 3])
      let node = try XCTUnwrap(canonical.nodes.first { $0.name == "y" })
      let (av, cv, mv) = (values[a]!.data, values[c]!.data, values[m]!.data)
      var naive: [ValueName: [Double]] = [a: .init(repeating: 0, count: k * 18), c: .init(repeating: 0, count: k * 18), m: .init(repeating: 0, count: k * 9)]
      var ties = 0
      for s in 0..<k {
        for ch in 0..<2 {
          for p in 0..<9 {
            let e = ch * 9 + p
            let candidates: [(ValueName, Float, Int)] = [(a, av[e], e), (c, cv[e], e), (m, mv[p], p)]
            let best = kind == .max ? candidates.map(\.1).max()! : candidates.map(\.1).min()!
            let winners = candidates.filter { $0.1 == best }
            if winners.count > 1 { ties += 1 }
            for (name, _, index) in winners {
              naive[name]![s * (name == m ? 9 : 18) + index] += Double(r.data[s * 18 + e]) / Double(winners.count)
            }
          }
        }
      }
      XCTAssertGreaterThan(ties, 4, "the data must have ties")
      for rule in [Rule.pass, .gradient] {
        guard case .registered(let step) = try RelevancePlan.lower(node, rule: rule, graph: canonical) else {
          return XCTFail("\(kind) \(rule): not a registered step")
        }
        let routed = Dictionary(step.apply(r, values, k), uniquingKeysWith: { _, _ in fatalError("input listed twice") })
        XCTAssertEqual(Set(routed.keys), [a, c, m])
        for (name, expected) in naive {
          XCTAssertEqual(routed[name]!.shape, name == m ? [k, 1, 3, 3] : [k, 2, 3, 3])
          XCTAssertLessThan(relativeError(routed[name]!.data, expected.map(Float.init)), 1e-6, "\(kind) \(rule) \(name)")
        }
        let total = routed.values.map { $0.signalSums(k) }.reduce([0, 0]) { [$0[0] + $1[0], $0[1] + $1[1]] }
        let arriving = r.signalSums(k)
        for s in 0..<k { XCTAssertEqual(total[s], arriving[s], accuracy: 1e-5 * max(1, abs(arriving[s])), "\(kind) \(rule) conserves") }
      }
    }
  }

  /// Max against a constant tensor (not a scalar, so not a Clip): the relevance of the outputs
  /// the constant wins is absorbed, and the gradient matches central differences.
  func testMaxAgainstAConstantTensorGradient() throws {
    var b = GraphBuilder(seed: 5)
    let bound = b.weights([1, 1, 1, 4], -0.3, 0.3)
    let y = b.add(.registered(ElementwiseExtremum(kind: .max)), [b.input, bound], name: "y")
    XCTAssertTrue(try Canonicalizer.canonicalize(b.graph([1, 2, 3, 4], outputs: [y]), inputShape: [1, 2, 3, 4])
      .nodes.contains { $0.op == .registered(ElementwiseExtremum(kind: .max)) }, "a tensor bound is no Clip")
    try checkGradientByCentralDifferences(b.graph([1, 2, 3, 4], outputs: [y]), inputShape: [1, 2, 3, 4], node: "y")
  }

  // MARK: ReduceMax and ReduceMin

  /// ReduceMax/ReduceMin over axes given as attribute or input (opset 18), kept or dropped, and
  /// the no-op: forward as the reference interpreter, relevance as naive winner-take-all loops.
  func testReductionsRouteToTheWinnersWithTiesSplit() throws {
    struct Case { let op: Op; let axesInput: [Int]?; let outShape: [Int] }
    let shape = [1, 3, 4, 5]
    let cases = [
      Case(op: .reduceMax(axes: [1, 3], keepDims: false, noopWithEmptyAxes: false), axesInput: nil, outShape: [1, 4]),
      Case(op: .reduceMin(axes: [-1], keepDims: true, noopWithEmptyAxes: false), axesInput: nil, outShape: [1, 3, 4, 1]),
      Case(op: .reduceMax(axes: nil, keepDims: true, noopWithEmptyAxes: false), axesInput: [1], outShape: [1, 1, 4, 5]),
      Case(op: .reduceMin(axes: nil, keepDims: true, noopWithEmptyAxes: false), axesInput: nil, outShape: [1, 1, 1, 1]),
      Case(op: .reduceMax(axes: nil, keepDims: true, noopWithEmptyAxes: true), axesInput: [], outShape: [1, 3, 4, 5]),
    ]
    for (n, test) in cases.enumerated() {
      var b = GraphBuilder(seed: 7)
      let inputs = [b.input] + (test.axesInput.map { [b.ints($0)] } ?? [])
      let y = b.add(test.op, inputs, name: "y")
      var graph = b.graph(shape, outputs: [y])
      let canonical = try Canonicalizer.canonicalize(graph, inputShape: shape)
      try Canonicalizer.bindInput(&graph, shape)
      XCTAssertEqual(canonical.shapes[canonical.outputs[0]], test.outShape, "case \(n)")
      var rng = SeededRandom(seed: UInt64(20 + n))
      let input = Tensor(shape: shape, data: (0..<60).map { _ in Float(rng.int(-3...3)) / 2 })
      let expected = try ReferenceInterpreter(graph: graph).outputs(input)[0]
      let values = try ForwardPlan(graph: canonical, keep: [b.input]).run(input, keep: [b.input])
      XCTAssertEqual(values[canonical.outputs[0]]!.data, expected.data, "case \(n) forward")

      // Naive routing: group of each element = its index with the reduced axes zeroed.
      let reduced: Set<Int> = { switch n { case 0: return [1, 3]; case 1: return [3]; case 2: return [1]; case 3: return [0, 1, 2, 3]; default: return [] } }()
      let k = 2
      let outCount = test.outShape.reduce(1, *)
      let r = rng.tensor([k] + test.outShape.dropFirst())
      let isMax = test.op.name == "ReduceMax"
      var groupOf = [Int](repeating: 0, count: 60)
      var best = [Float](repeating: isMax ? -.infinity : .infinity, count: outCount)
      for j in 0..<60 {
        let idx = [0, j / 20, (j / 5) % 4, j % 5]
        let kept = (0..<4).map { reduced.contains($0) ? 0 : idx[$0] }
        let dims = (0..<4).map { reduced.contains($0) ? 1 : shape[$0] }
        groupOf[j] = ((kept[0] * dims[1] + kept[1]) * dims[2] + kept[2]) * dims[3] + kept[3]
        best[groupOf[j]] = isMax ? max(best[groupOf[j]], input.data[j]) : min(best[groupOf[j]], input.data[j])
      }
      var winners = [Int](repeating: 0, count: outCount)
      for j in 0..<60 where input.data[j] == best[groupOf[j]] { winners[groupOf[j]] += 1 }
      var naive = [Float](repeating: 0, count: k * 60)
      for s in 0..<k { for j in 0..<60 where input.data[j] == best[groupOf[j]] { naive[s * 60 + j] = r.data[s * outCount + groupOf[j]] / Float(winners[groupOf[j]]) } }
      if n < 4 { XCTAssertTrue(winners.contains { $0 > 1 }, "case \(n): the data must have ties") }
      let node = try XCTUnwrap(canonical.nodes.first { $0.name == "y" })
      for rule in [Rule.pass, .gradient] {
        guard case .registered(let step) = try RelevancePlan.lower(node, rule: rule, graph: canonical) else {
          return XCTFail("case \(n) \(rule): not a registered step")
        }
        let routed = step.apply(r, values, k)
        XCTAssertEqual(routed.map(\.0), [b.input])
        XCTAssertEqual(routed[0].1.shape, [k, 3, 4, 5])
        XCTAssertLessThan(relativeError(routed[0].1.data, naive), 1e-6, "case \(n) \(rule)")
        let sums = routed[0].1.signalSums(k), arriving = r.signalSums(k)
        for s in 0..<k { XCTAssertEqual(sums[s], arriving[s], accuracy: 1e-5 * max(1, abs(arriving[s])), "case \(n) conserves") }
      }
    }
  }

  /// The gradient step of ReduceMax over the channels and ReduceMin over the width matches
  /// central differences (continuous random data: no ties).
  func testReductionGradients() throws {
    for op in [Op.reduceMax(axes: [1], keepDims: false, noopWithEmptyAxes: false), .reduceMin(axes: [3], keepDims: true, noopWithEmptyAxes: false)] {
      var b = GraphBuilder(seed: 9)
      let y = b.add(op, [b.input], name: "y")
      try checkGradientByCentralDifferences(b.graph([1, 3, 4, 5], outputs: [y]), inputShape: [1, 3, 4, 5], node: "y")
    }
  }

  /// A reduction over the batch axis that drops it cannot carry relevance signals: refused by name.
  func testReductionDroppingTheBatchAxisIsRefused() throws {
    var b = GraphBuilder(seed: 9)
    let y = b.add(.reduceMax(axes: [0, 1], keepDims: false, noopWithEmptyAxes: false), [b.input], name: "y")
    let canonical = try Canonicalizer.canonicalize(b.graph([1, 3, 4, 5], outputs: [y]), inputShape: [1, 3, 4, 5])
    XCTAssertThrowsError(try RelevancePlan.lower(canonical.nodes[0], rule: .pass, graph: canonical)) { error in
      XCTAssertTrue("\(error)".contains("removes the batch axis") && "\(error)".contains("'y'"), "\(error)")
    }
  }

  // MARK: Through a relevance plan

  /// conv → ReLU twice, Max of the two, ReduceMax over the channels, a dense head: z⁺ without
  /// bias and the default rule (`pass`) on the registered ops conserve at every node and in
  /// total; the non-negativity analysis sees the Max and ReduceMax outputs of ReLUs as >= 0.
  func testConservationThroughAPlan() throws {
    var b = GraphBuilder(seed: 13)
    let a = b.add(.relu, [b.conv(b.input, in: 3, out: 4)], name: "a")
    let c = b.add(.relu, [b.conv(a, in: 4, out: 4)], name: "c")
    let m = b.add(.registered(ElementwiseExtremum(kind: .max)), [a, c], name: "max")
    let reduced = b.add(.reduceMax(axes: [1], keepDims: false, noopWithEmptyAxes: false), [m], name: "reduce")
    let flat = b.add(.flatten(axis: 1), [reduced], name: "flat")
    let logits = b.dense(flat, in: 36, out: 5, name: "head")
    let graph = try Canonicalizer.canonicalize(b.graph([1, 3, 6, 6], outputs: [logits]), inputShape: [1, 3, 6, 6])
    let nonNegative = graph.nonNegativeValues()
    XCTAssertTrue(nonNegative.contains(m) && nonNegative.contains(reduced))
    let rules: [Rule?] = graph.nodes.map { node in
      switch node.op {
      case .conv, .dense: return .linear(LinearRule(.zPlus))
      default: return RuleTarget(node, in: graph).defaultRule
      }
    }
    XCTAssertEqual(rules[graph.nodes.firstIndex { $0.name == "max" }!], .pass)
    let plan = try RelevancePlan(graph: graph, rules: rules)
    var rng = SeededRandom(seed: 17)
    let result = try plan.explain(rng.tensor([1, 3, 6, 6]), classes: [0, 2])
    let checked = assertLayersConserve(result, context: "every layer")
    XCTAssertTrue(checked.contains("Max") && checked.contains("ReduceMax"))
    let initial = result.layers.first!.outputSums, total = result.input.signalSums(2)
    for s in 0..<2 { XCTAssertEqual(total[s], initial[s], accuracy: 1e-4 * abs(initial[s])) }
    XCTAssertNotEqual(initial[0], 0)
  }

  /// torch's exports of Max/Min of activations and amax/amin (`Graphs/op_fixtures.py`
  /// max_min_activations, opsets 17 and 18: axes attribute and input) import as registered ops;
  /// `OpFixtureTests` checks their logits against onnxruntime and the gradient preset against
  /// torch autograd. Here: z⁺ and `pass` conserve at each of them.
  func testTorchExportsImportAndConserve() throws {
    for name in ["max_min_activations", "max_min_activations_opset18"] {
      let model = try Model(path: Fixtures.path("ops/\(name).onnx"))
      let input = try NPY.read(path: Fixtures.path("ops/\(name).input.npy"))
      let graph = try model.canonical(inputShape: input.shape)
      XCTAssertEqual(Set(graph.nodes.compactMap { if case .registered(let r) = $0.op { return r.name } else { return nil } }),
                     ["Max", "Min", "ReduceMax", "ReduceMin"], name)
      let rules: [Rule?] = graph.nodes.map { node in
        if case .conv = node.op { return .linear(LinearRule(.zPlus)) }
        if case .dense = node.op { return .linear(LinearRule(.zPlus)) }
        return RuleTarget(node, in: graph).defaultRule
      }
      let result = try RelevancePlan(graph: graph, rules: rules).explain(input, classes: [0, 1])
      let checked = assertLayersConserve(result, context: name) { OperatorRegistry.opNames.contains($0.op) }
      XCTAssertEqual(Set(checked), ["Max", "Min", "ReduceMax", "ReduceMin"], name)
    }
  }

  /// Compiles `graph` with rule `gradient` at `node` and checks that its step maps a random r to
  /// ∂(Σ r·y)/∂x computed by central differences of the forward plan.
  private func checkGradientByCentralDifferences(_ graph: Graph, inputShape: [Int], node name: String,
                                                 file: StaticString = #filePath, line: UInt = #line) throws {
    let canonical = try Canonicalizer.canonicalize(graph, inputShape: inputShape)
    let node = try XCTUnwrap(canonical.nodes.first { $0.name == name })
    let plan = try ForwardPlan(graph: canonical, keep: [canonical.input])
    var rng = SeededRandom(seed: 31)
    let x = rng.tensor(inputShape)
    let values = try plan.run(x, keep: [canonical.input])
    let output = canonical.outputs[0]
    let r = rng.tensor([1] + canonical.shapes[output]!.dropFirst())
    guard case .registered(let step) = try RelevancePlan.lower(node, rule: .gradient, graph: canonical) else {
      return XCTFail("not a registered step", file: file, line: line)
    }
    let gradient = try XCTUnwrap(step.apply(r, values, 1).first { $0.0 == canonical.input }?.1)
    let h: Float = 1e-3
    var numeric = [Float](repeating: 0, count: x.count)
    for j in 0..<x.count {
      var up = x.data, down = x.data
      up[j] += h
      down[j] -= h
      let fUp = try plan.run(Tensor(shape: inputShape, data: up))[output]!.data
      let fDown = try plan.run(Tensor(shape: inputShape, data: down))[output]!.data
      numeric[j] = zip(zip(fUp, fDown), r.data).map { ($0.0 - $0.1) * $1 }.reduce(0, +) / (2 * h)
    }
    XCTAssertLessThan(relativeError(gradient.data, numeric), 1e-3, "\(name)", file: file, line: line)
    XCTAssertTrue(gradient.data.contains { $0 == 0 } && gradient.data.contains { $0 != 0 }, "routing picks some inputs", file: file, line: line)
  }
}
