import XCTest
@testable import Relevance

/// Slice of activations (a crop) and Split (imported as one Slice per piece): forward against
/// naive index loops, relevance routed back to the element each output was copied from (zero
/// to the elements cut away) and conserved at each node, for `pass` and `gradient`.
final class SliceSplitTests: XCTestCase {
  /// Relevance at the input of `graph` for `signals` ([K] + output shape) at its output, every
  /// node with `rule` (the graphs here hold only relevance-moving ops and ReLU), and the
  /// per-node sums.
  func explain(_ graph: Graph, _ input: Tensor, _ signals: Tensor, rule: Rule) throws -> RelevanceResult {
    let plan = try RelevancePlan(graph: graph, rules: graph.nodes.map { _ in rule })
    return try plan.explain(input, signals: signals, at: graph.outputs[0])
  }

  func assertConserves(_ result: RelevanceResult, _ k: Int, file: StaticString = #filePath, line: UInt = #line) {
    for layer in result.layers {
      for s in 0..<k {
        XCTAssertEqual(layer.inputSums[s], layer.outputSums[s], accuracy: 1e-5 * max(1, abs(layer.outputSums[s])),
                       "\(layer.node) (\(layer.op)) conserves", file: file, line: line)
      }
    }
  }

  /// Row-major flat index of `index` in `shape`.
  func flat(_ index: [Int], _ shape: [Int]) -> Int { zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 } }

  /// A Slice of a ReLU output on channels [1, 3) and width [-4, end) given by a negative axis
  /// and an out-of-range end (clamped): forward and relevance as naive loops.
  func testSliceOfAnActivationCopiesAndRoutesBack() throws {
    var b = GraphBuilder(seed: 21)
    let a = b.add(.relu, [b.input], name: "a")
    let y = b.add(.slice, [a, b.ints([1, -4]), b.ints([3, Int.max]), b.ints([1, -1])], name: "y")
    let inShape = [1, 4, 3, 5], outShape = [1, 2, 3, 4]
    let graph = try Canonicalizer.canonicalize(b.graph(inShape, outputs: [y]), inputShape: inShape)
    XCTAssertEqual(graph.shapes[y], outShape)
    XCTAssertTrue(graph.nodes.contains { $0.op == .slice }, "the slice of an activation stays a node")
    var rng = SeededRandom(seed: 5)
    let input = rng.tensor(inShape)
    let relu = input.data.map { max(0, $0) }
    let out = try ForwardPlan(graph: graph).run(input)[y]!
    XCTAssertEqual(out.shape, outShape)
    for c in 0..<2 { for h in 0..<3 { for w in 0..<4 {
      XCTAssertEqual(out.data[flat([0, c, h, w], outShape)], relu[flat([0, c + 1, h, w + 1], inShape)])
    } } }

    let k = 2
    let signals = rng.tensor([k] + outShape.dropFirst())
    for rule in [Rule.pass, .gradient] {
      let result = try explain(graph, input, signals, rule: rule)
      var naive = [Float](repeating: 0, count: k * 60)
      for s in 0..<k { for c in 0..<2 { for h in 0..<3 { for w in 0..<4 {
        // ReLU passes (`pass`) or gates by x > 0 (`gradient`) what the slice sends back.
        let source = flat([s, c + 1, h, w + 1], [k, 4, 3, 5])
        let gate: Float = rule == .gradient && input.data[source % 60] <= 0 ? 0 : 1
        naive[source] = gate * signals.data[flat([s, c, h, w], [k, 2, 3, 4])]
      } } } }
      XCTAssertEqual(result.input.shape, [k, 4, 3, 5])
      XCTAssertEqual(result.input.data, naive, "\(rule)")
      let slice = try XCTUnwrap(result.layers.first { $0.node == "y" })
      for s in 0..<k { XCTAssertEqual(slice.inputSums[s], slice.outputSums[s], accuracy: 1e-5, "the slice conserves") }
      XCTAssertNotEqual(slice.outputSums[0], 0)
    }
  }

  /// Steps other than 1 on activations are refused with the node's name and the reason; a
  /// slice of constants still folds (steps included).
  func testSliceRefusalsAndFolding() throws {
    var b = GraphBuilder(seed: 22)
    let a = b.add(.relu, [b.input], name: "a")
    let strided = b.add(.slice, [a, b.ints([0]), b.ints([4]), b.ints([1]), b.ints([2])], name: "strided")
    XCTAssertThrowsError(try Canonicalizer.canonicalize(b.graph([1, 4, 2, 2], outputs: [strided]), inputShape: [1, 4, 2, 2])) {
      let e = $0 as? ModelError
      XCTAssertEqual(e?.nodeName, "strided")
      XCTAssertTrue(e?.message.contains("steps [1, 2, 1, 1] is not supported") ?? false, "\(String(describing: e))")
    }

    var d = GraphBuilder(seed: 24)
    let folded = d.add(.slice, [d.floats([0, 1, 2, 3, 4, 5]), d.ints([-1]), d.ints([-7]), d.ints([0]), d.ints([-2])], name: "folded")
    let scaled = d.add(.elementwise(.mul), [d.input, d.add(.reshape(allowZero: false), [folded, d.ints([1, 3])])], name: "scaled")
    let g = try Canonicalizer.canonicalize(d.graph([1, 3], outputs: [scaled]), inputShape: [1, 3])
    XCTAssertFalse(g.nodes.contains { $0.op == .slice })
    XCTAssertEqual(try ForwardPlan(graph: g).run(Tensor(shape: [1, 3], data: [1, 1, 1]))[scaled]!.data, [5, 3, 1])
  }

  /// A one-Split ONNX model: x → Relu → Split(axis 1) → Concat of the pieces in a new order.
  func splitModel(opset: Int, channels: Int, attributes: [String: ONNXFile.Attribute.Value], splitInput: [Int]?,
                  pieces: Int, order: [Int]) throws -> Graph {
    let outputs = (0..<pieces).map { "piece\($0)" }
    var nodes = [ONNXFile.NodeRecord(name: "relu", opType: "Relu", domain: "", inputs: ["x"], outputs: ["a"], attributes: [:])]
    var initializers: [String: Constant] = [:]
    var splitInputs = ["a"]
    if let splitInput {
      initializers["sizes"] = Constant(shape: [splitInput.count], ints: splitInput)
      splitInputs.append("sizes")
    }
    nodes.append(.init(name: "split", opType: "Split", domain: "", inputs: splitInputs, outputs: outputs, attributes: attributes))
    nodes.append(.init(name: "concat", opType: "Concat", domain: "", inputs: order.map { outputs[$0] }, outputs: ["y"], attributes: ["axis": .int(1)]))
    let file = ONNXFile(path: "split.onnx", opset: opset, nodes: nodes, initializers: initializers,
                        inputs: [.init(name: "x", elementType: 1, dims: [.fixed(1), .fixed(channels), .fixed(2), .fixed(3)])],
                        outputs: [.init(name: "y", elementType: 1, dims: nil)])
    return try ONNXImporter.importModel(file)
  }

  /// Split in each opset's form (attribute sizes, input sizes, equal parts, opset 18's
  /// num_outputs with an uneven last piece, a negative axis): the pieces are the channel ranges
  /// the specification gives; reordered by a Concat, the relevance goes back to each channel
  /// it came from and every node conserves.
  func testSplitFormsRouteEachPieceBack() throws {
    struct Case { let opset: Int; let channels: Int; let attributes: [String: ONNXFile.Attribute.Value]; let input: [Int]?; let sizes: [Int] }
    let cases = [
      Case(opset: 11, channels: 5, attributes: ["axis": .int(1), "split": .ints([2, 3])], input: nil, sizes: [2, 3]),
      Case(opset: 13, channels: 6, attributes: ["axis": .int(-3)], input: [1, 4, 1], sizes: [1, 4, 1]),
      Case(opset: 13, channels: 6, attributes: ["axis": .int(1)], input: nil, sizes: [2, 2, 2]),
      Case(opset: 18, channels: 7, attributes: ["axis": .int(1), "num_outputs": .int(3)], input: nil, sizes: [3, 3, 1]),
      Case(opset: 18, channels: 8, attributes: ["axis": .int(-3), "num_outputs": .int(2)], input: nil, sizes: [4, 4]),
    ]
    var rng = SeededRandom(seed: 31)
    for (n, test) in cases.enumerated() {
      let order = Array((0..<test.sizes.count).reversed())
      let imported = try splitModel(opset: test.opset, channels: test.channels, attributes: test.attributes, splitInput: test.input,
                                    pieces: test.sizes.count, order: order)
      XCTAssertEqual(imported.nodes.filter { $0.sourceOpType == "Split" && $0.op == .slice }.count, test.sizes.count, "case \(n)")
      let shape = [1, test.channels, 2, 3]
      let graph = try Canonicalizer.canonicalize(imported, inputShape: shape)
      // Output channel → input channel: the pieces' channel ranges, concatenated in `order`.
      let starts = test.sizes.indices.map { test.sizes[..<$0].reduce(0, +) }
      let source = order.flatMap { Array(starts[$0]..<(starts[$0] + test.sizes[$0])) }
      XCTAssertEqual(source.count, test.channels, "case \(n)")
      let input = rng.tensor(shape)
      let y = try ForwardPlan(graph: graph).run(input)["y"]!
      XCTAssertEqual(y.shape, shape, "case \(n)")
      for (c, from) in source.enumerated() {
        XCTAssertEqual(Array(y.data[(c * 6)..<(c * 6 + 6)]), input.data[(from * 6)..<(from * 6 + 6)].map { max(0, $0) }, "case \(n) channel \(c)")
      }
      let k = 2
      let signals = rng.tensor([k] + shape.dropFirst())
      let result = try explain(graph, input, signals, rule: .pass)
      var naive = [Float](repeating: 0, count: k * test.channels * 6)
      for s in 0..<k { for (c, from) in source.enumerated() { for p in 0..<6 {
        naive[(s * test.channels + from) * 6 + p] = signals.data[(s * test.channels + c) * 6 + p]
      } } }
      XCTAssertEqual(result.input.data, naive, "case \(n)")
      assertConserves(result, k)
      XCTAssertEqual(result.layers.filter { $0.op == "Slice" }.count, test.sizes.count, "case \(n)")
    }
  }

  func testSplitRefusals() throws {
    let bad: [(Int, [String: ONNXFile.Attribute.Value], [Int]?, Int, String)] = [
      (11, ["split": .ints([2, 2, 1])], nil, 2, "split [2, 2, 1] has 3 entries for 2 outputs"),
      (18, [:], nil, 2, "needs the split input or the num_outputs attribute"),
      (18, ["num_outputs": .int(3)], nil, 2, "num_outputs 3 differs from its 2 outputs"),
      (13, [:], [0, 4], 2, "give an empty piece; empty tensors are not supported"),
    ]
    for (opset, attributes, input, pieces, why) in bad {
      XCTAssertThrowsError(try splitModel(opset: opset, channels: 4, attributes: attributes, splitInput: input,
                                          pieces: pieces, order: Array(0..<pieces))) {
        let e = $0 as? ModelError
        XCTAssertEqual(e?.nodeName, "split")
        XCTAssertTrue(e?.message.contains(why) ?? false, "\(String(describing: e)) should say \(why)")
      }
    }
  }

  /// The channel shuffle as exporters write it (Reshape to [N, g, C/g, H, W], Transpose
  /// [0, 2, 1, 3, 4], Reshape back): output channel c = j·g + i holds input channel i·(C/g) + j,
  /// and the relevance goes back along the same permutation.
  func testChannelShuffleThroughRankFiveReshapeAndTranspose() throws {
    var b = GraphBuilder(seed: 41)
    let a = b.add(.relu, [b.input], name: "a")
    let five = b.add(.reshape(allowZero: false), [a, b.ints([1, 2, 3, 2, 2])], name: "five")
    let swapped = b.add(.transpose(perm: [0, 2, 1, 3, 4]), [five], name: "swapped")
    let y = b.add(.reshape(allowZero: false), [swapped, b.ints([1, -1, 2, 2])], name: "y")
    let shape = [1, 6, 2, 2]
    let graph = try Canonicalizer.canonicalize(b.graph(shape, outputs: [y]), inputShape: shape)
    XCTAssertEqual(graph.shapes[swapped], [1, 3, 2, 2, 2])
    var rng = SeededRandom(seed: 43)
    let input = rng.tensor(shape)
    let out = try ForwardPlan(graph: graph).run(input)[y]!
    let source = (0..<6).map { c in (c % 2) * 3 + c / 2 }
    for (c, from) in source.enumerated() {
      XCTAssertEqual(Array(out.data[(c * 4)..<(c * 4 + 4)]), input.data[(from * 4)..<(from * 4 + 4)].map { max(0, $0) })
    }
    let k = 3
    let signals = rng.tensor([k, 6, 2, 2])
    for rule in [Rule.pass, .gradient] {
      let result = try explain(graph, input, signals, rule: rule)
      var naive = [Float](repeating: 0, count: k * 24)
      for s in 0..<k { for (c, from) in source.enumerated() { for p in 0..<4 {
        let gate: Float = rule == .gradient && input.data[from * 4 + p] <= 0 ? 0 : 1
        naive[(s * 6 + from) * 4 + p] = gate * signals.data[(s * 6 + c) * 4 + p]
      } } }
      XCTAssertEqual(result.input.data, naive, "\(rule)")
      if rule == .pass { assertConserves(result, k) }
    }
  }
}
