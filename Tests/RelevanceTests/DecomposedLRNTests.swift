import Foundation
import XCTest
@testable import Relevance

/// torch's decomposed LocalResponseNorm (`Import/DecomposedLocalResponseNorm.swift`,
/// `Passes/CheckDecomposedLRN.swift`): both exporters' fixtures become LRN nodes, hand-built
/// variants compute torch's formula written out below, and near misses are refused.
final class DecomposedLRNTests: XCTestCase {
  typealias Record = ONNXFile.NodeRecord

  func testBothExportsBecomeLRNNodesWithTheModuleParameters() throws {
    for name in ["lrn", "lrn_dynamo"] {
      let model = try Model(path: Fixtures.path("ops/\(name).onnx"))
      let graph = try model.canonical(inputShape: [1, 3, 8, 8])
      let lrns = graph.nodes.compactMap { $0.op.definition(as: LocalResponseNormalization.self)?.parameters }
      // Graphs/op_fixtures.py, LocalResponseNorms: LRN(5, 1e-4, 0.75, 2) and LRN(3, 1, 0.6, 1).
      XCTAssertEqual(lrns, [LRNParameters(size: 5, alpha: 1e-4, beta: 0.75, bias: 2),
                            LRNParameters(size: 3, alpha: 1, beta: 0.6, bias: 1)], name)
      for node in graph.nodes where node.op.definition(as: LocalResponseNormalization.self) != nil {
        XCTAssertEqual(node.inputs.count, 1, name)
      }
      XCTAssertFalse(graph.nodes.contains { node in
        if case .avgPool = node.op { return true }
        if case .pad = node.op { return true }
        if case .elementwise = node.op { return true }
        return false
      }, "\(name): \(graph.nodes.map(\.op))")
    }
  }

  /// torch's LocalResponseNorm on [N, C, H, W], written out: the mean of x² over channels
  /// c − ⌊s/2⌋ ... c + ⌊(s−1)/2⌋ (zeros outside), y = x / (k + alpha · mean)^beta.
  func torchLRN(_ x: Tensor, size: Int, alpha: Float, beta: Float, k: Float) -> [Float] {
    let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    var y = [Float](repeating: 0, count: x.data.count)
    for b in 0..<n { for ch in 0..<c { for i in 0..<plane {
      var sum: Float = 0
      for other in (ch - size / 2)...(ch + (size - 1) / 2) where other >= 0 && other < c {
        let v = x.data[(b * c + other) * plane + i]
        sum += v * v
      }
      let v = x.data[(b * c + ch) * plane + i]
      y[(b * c + ch) * plane + i] = v / pow(k + alpha * sum / Float(size), beta)
    } } }
    return y
  }

  /// Options for the hand-built decomposition, each a variation exporters make or a near miss.
  struct Variant {
    var opset = 13
    var size = 5
    var alpha: Float = 0.5, beta: Float = 0.75, k: Float = 1.5
    var dynamicBatch = false
    var scalarsAsConstantNodes = false
    var identities = false
    var pads: [Int]? = nil
    var target: [Int]? = nil
    var divideOther = false
  }

  /// x [N, 6, 3, 2] → Relu → torch's decomposition (dynamo's form) → y.
  func model(_ v: Variant) throws -> Graph {
    var nodes: [Record] = [.init(name: "relu", opType: "Relu", domain: "", inputs: ["x"], outputs: ["a"], attributes: [:])]
    var initializers: [String: Constant] = [:]
    func node(_ op: String, _ inputs: [String], _ output: String, _ attributes: [String: ONNXFile.Attribute.Value] = [:]) {
      nodes.append(.init(name: output, opType: op, domain: "", inputs: inputs, outputs: [output], attributes: attributes))
    }
    func scalar(_ name: String, _ value: Float) -> String {
      if v.scalarsAsConstantNodes {
        node("Constant", [], name, ["value": .tensor(Constant(shape: [], floats: [value]))])
      } else {
        initializers[name] = Constant(shape: [], floats: [value])
      }
      return name
    }
    func through(_ value: String) -> String {
      guard v.identities else { return value }
      node("Identity", [value], value + "_id")
      return value + "_id"
    }
    node("Mul", ["a", "a"], "square")
    if v.dynamicBatch {
      node("Shape", ["a"], "batch", ["end": .int(1)])
      node("Shape", ["a"], "chw", ["start": .int(1)])
      initializers["one"] = Constant(shape: [1], ints: [1])
      node("Concat", ["batch", "one", "chw"], "target", ["axis": .int(0)])
    } else {
      initializers["target"] = Constant(shape: [5], ints: v.target ?? [1, 1, 6, 3, 2])
    }
    node("Reshape", [through("square"), "target"], "r")
    initializers["pads"] = Constant(shape: [10], ints: v.pads ?? [0, 0, v.size / 2, 0, 0, 0, 0, (v.size - 1) / 2, 0, 0])
    node("Pad", [through("r"), "pads"], "q", ["mode": .string("constant")])
    node("AveragePool", ["q"], "p", ["kernel_shape": .ints([v.size, 1, 1]), "strides": .ints([1, 1, 1]), "count_include_pad": .int(1)])
    if v.opset < 13 {
      node("Squeeze", [through("p")], "s", ["axes": .ints([1])])
    } else {
      initializers["axes"] = Constant(shape: [1], ints: [1])
      node("Squeeze", [through("p"), "axes"], "s")
    }
    node("Mul", [scalar("alpha", v.alpha), through("s")], "m")
    node("Add", [through("m"), scalar("k", v.k)], "b")
    node("Pow", [through("b"), scalar("beta", v.beta)], "d")
    if v.divideOther { node("Relu", ["x"], "other") }
    node("Div", [v.divideOther ? "other" : "a", "d"], "y")
    let file = ONNXFile(path: "lrn.onnx", opset: v.opset, nodes: nodes, initializers: initializers,
                        inputs: [.init(name: "x", elementType: 1, dims: [v.dynamicBatch ? .symbolic("N") : .fixed(1), .fixed(6), .fixed(3), .fixed(2)])],
                        outputs: [.init(name: "y", elementType: 1, dims: nil)])
    return try ONNXImporter.importModel(file)
  }

  func testHandBuiltVariantsComputeTorchsFormula() throws {
    var variants: [Variant] = [Variant(), Variant(opset: 11, scalarsAsConstantNodes: true, identities: true),
                               Variant(size: 3, alpha: 2, beta: 0.5, k: 1), Variant(size: 1),
                               Variant(dynamicBatch: true)]
    variants[4].opset = 15
    for v in variants {
      let batch = v.dynamicBatch ? 2 : 1
      let graph = try Canonicalizer.canonicalize(try model(v), inputShape: [batch, 6, 3, 2])
      XCTAssertEqual(graph.nodes.map(\.op), [.relu, .lrn(LRNParameters(size: v.size, alpha: v.alpha, beta: v.beta, bias: v.k))], "\(v)")
      let count = batch * 36
      let x = Tensor(shape: [batch, 6, 3, 2], data: (0..<count).map { Float(($0 * 37) % 23) / 5 - 1.2 })
      let y = try XCTUnwrap(try ForwardPlan(graph: graph).run(x)["y"])
      let relu = Tensor(shape: x.shape, data: x.data.map { max($0, 0) })
      XCTAssertLessThan(relativeError(y.data, torchLRN(relu, size: v.size, alpha: v.alpha, beta: v.beta, k: v.k)), 1e-5, "\(v)")
    }
  }

  func testNearMissesAreRefusedNamingTheReason() throws {
    let cases: [(Variant, String)] = [
      (Variant(size: 4), "size 4 is even"),
      (Variant(pads: [0, 0, 1, 0, 0, 0, 0, 3, 0, 0]), "it pads [0, 0, 1, 0, 0, 0, 0, 3, 0, 0], not [0, 0, 2, 0, 0, 0, 0, 2, 0, 0]"),
      (Variant(target: [1, 1, 3, 6, 2]), "reshapes x of shape [1, 6, 3, 2] to [1, 1, 3, 6, 2], not [1, 1, 6, 3, 2]"),
      (Variant(divideOther: true), "it divides 'other', not the squared input 'a'"),
    ]
    for (v, reason) in cases {
      XCTAssertThrowsError(try Canonicalizer.canonicalize(try model(v), inputShape: [1, 6, 3, 2]), reason) { error in
        let message = "\(error)"
        XCTAssertTrue(message.contains("looks like torch's decomposed LocalResponseNorm but"), message)
        XCTAssertTrue(message.contains(reason), message)
        XCTAssertTrue(message.contains("lrn.onnx"), message)
      }
    }
    // An ONNX LRN has one input; the extra inputs are the decomposition's alone.
    let file = ONNXFile(path: "plain.onnx", opset: 13,
                        nodes: [.init(name: "lrn", opType: "LRN", domain: "", inputs: ["x", "x"], outputs: ["y"], attributes: ["size": .int(3)])],
                        inputs: [.init(name: "x", elementType: 1, dims: [.fixed(1), .fixed(6), .fixed(3), .fixed(2)])],
                        outputs: [.init(name: "y", elementType: 1, dims: nil)])
    XCTAssertThrowsError(try ONNXImporter.importModel(file)) { XCTAssertTrue("\($0)".contains("expects one input"), "\($0)") }
  }

  /// The paper's rules on both exports: every node whose rule should conserve does (LRN: pass).
  func testPaperRulesConserveThroughLRN() throws {
    for name in ["lrn", "lrn_dynamo"] {
      let model = try Model(path: Fixtures.path("ops/\(name).onnx"))
      let input = try NPY.read(path: Fixtures.path("ops/\(name).input.npy"))
      let graph = try model.canonical(inputShape: input.shape)
      let rules = try RuleSet.load(nameOrPath: "paper").assign(to: graph, preprocessing: .imagenet)
      let plan = try RelevancePlan(graph: graph, rules: rules.rules)
      let result = try plan.explain(input, classes: [0, 1])
      let checked = assertConservingLayersConserve(result, graph: graph, rules: rules, context: name)
      XCTAssertEqual(checked.filter { $0 == "LRN" }.count, 2, name)
    }
  }
}
