import Foundation
import XCTest
@testable import Relevance

/// ONNX Split, valid and invalid in each opset's form, against onnxruntime's verdict on the
/// same files (`Graphs/split_cases.py` → `Tests/Fixtures/split/`): clrp runs exactly the models
/// onnxruntime runs, with the same pieces and the same output, except those with an empty piece
/// (clrp has no empty tensors), and refuses every model onnxruntime refuses, naming the Split
/// node and the numbers. Before the check, sizes that did not add up to the axis length and
/// equal splits that did not divide it were cut or clamped silently.
final class SplitValidityTests: XCTestCase {
  struct Cases: Decodable {
    struct Case: Decodable {
      struct Verdict: Decodable {
        let accepted: Bool
        let error: String?
        let piece_sizes: [Int]?
        let input: [Float]?
        let y: [Float]?
      }
      let name: String
      let opset: Int
      let channels: Int
      let axis: Int
      let outputs: Int
      let onnxruntime: Verdict
    }
    let cases: [Case]
  }

  /// What clrp says about each model it refuses (a part of the message).
  static let refusals: [String: String] = [
    "sizes_attribute_short_opset11": "splitting axis 1 of 'a' (shape [1, 5, 2, 3]): split sizes [2, 2] add up to 4, but the axis has length 5; they must add up to it",
    "sizes_attribute_long_opset11": "split sizes [3, 3] add up to 6, but the axis has length 5",
    "sizes_input_short_opset13": "split sizes [1, 2, 2] add up to 5, but the axis has length 6",
    "sizes_input_long_opset18": "split sizes [2, 4] add up to 6, but the axis has length 5",
    "equal_uneven_opset7": "splitting axis 1 of 'a' (shape [1, 5, 2, 3]): 2 equal pieces do not divide the axis length 5",
    "equal_uneven_opset13": "3 equal pieces do not divide the axis length 8",
    "num_outputs_negative_last_opset18": "num_outputs 4 cuts the axis of length 5 into pieces of ⌈5/4⌉ = 2, 3 of which take 6, leaving -1 for the last",
    "num_outputs_empty_last_opset18": "num_outputs 3 cuts the axis of length 4 into pieces of ⌈4/3⌉ = 2, 2 of which take 4, leaving an empty last piece; empty tensors are not supported",
    "sizes_negative_opset13": "split sizes [-1, 6] must not be negative",
    "sizes_zero_opset13": "split sizes [0, 4] give an empty piece; empty tensors are not supported",
    "sizes_count_input_opset13": "split [2, 2, 1] has 3 entries for 2 outputs",
    "sizes_count_attribute_opset11": "split [1, 1, 3] has 3 entries for 2 outputs",
    "axis_out_of_range_opset13": "axis 4 is out of range for its input 'a' of shape [1, 4, 2, 3]",
    "no_sizes_no_num_outputs_opset18": "needs the split input or the num_outputs attribute",
    "num_outputs_for_other_outputs_opset18": "num_outputs 3 differs from its 2 outputs",
  ]

  func testClrpRunsWhatOnnxruntimeRunsAndRefusesTheRest() throws {
    let directory = Fixtures.path("split")
    let cases = try JSONDecoder().decode(Cases.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/cases.json"))).cases
    XCTAssertEqual(Set(cases.map(\.name)).count, cases.count)
    XCTAssertGreaterThanOrEqual(cases.filter { !$0.onnxruntime.accepted }.count, 10, "the invalid forms are there")
    XCTAssertGreaterThanOrEqual(cases.filter { $0.onnxruntime.accepted }.count, 9, "the valid forms are there")
    var refused: Set<String> = []
    for test in cases {
      let path = directory + "/\(test.name).onnx"
      let shape = [1, test.channels, 2, 3]
      let verdict = test.onnxruntime
      let runs = verdict.accepted && (verdict.piece_sizes ?? []).allSatisfy { $0 > 0 }
      guard runs else {
        XCTAssertThrowsError(try Canonicalizer.canonicalize(ONNXImporter.load(path: path), inputShape: shape), test.name) { error in
          guard let error = error as? ModelError else { return XCTFail("\(test.name): \(error) is no ModelError") }
          XCTAssertEqual(error.file, path, test.name)
          XCTAssertEqual(error.nodeName, "split", "\(test.name): \(error)")
          XCTAssertEqual(error.opType, "Split", test.name)
          let expected = Self.refusals[test.name] ?? "(no expected message for \(test.name))"
          XCTAssertTrue(error.message.contains(expected), "\(test.name): '\(error.message)' should say '\(expected)'")
        }
        refused.insert(test.name)
        continue
      }
      let graph = try Canonicalizer.canonicalize(ONNXImporter.load(path: path), inputShape: shape)
      let axis = test.axis < 0 ? test.axis + shape.count : test.axis
      let sizes = (0..<test.outputs).map { graph.shapes["piece\($0)"]?[axis] ?? -1 }
      XCTAssertEqual(sizes, verdict.piece_sizes, test.name)
      XCTAssertEqual(graph.nodes.filter { $0.op == .slice }.count, test.outputs, "\(test.name): one Slice per piece")
      let input = Tensor(shape: shape, data: try XCTUnwrap(verdict.input, test.name))
      let y = try XCTUnwrap(ForwardPlan(graph: graph).run(input)["y"], test.name)
      XCTAssertEqual(y.shape, shape, test.name)
      XCTAssertEqual(y.data, verdict.y, "\(test.name): the pieces, concatenated in reverse, as onnxruntime computes them")
    }
    XCTAssertEqual(refused, Set(Self.refusals.keys), "every refusal listed here is a case of the fixture")
  }

  /// The requirement on its own, for every axis length up to 13 and 1 to 5 pieces, against the
  /// pieces written out: sizes are valid when they add up to d; n equal pieces when n pieces of
  /// d / n fill d; opset 18's num_outputs when n − 1 pieces of ⌈d / n⌉ leave a positive rest.
  func testRequirementAgainstThePiecesWrittenOut() {
    for d in 1...13 {
      for n in 1...5 {
        let equal = SplitRequirement(node: "s", opType: "Split", input: "x", axis: 0, pieces: .equal(n))
        let pieces = [Int](repeating: d / n, count: n)
        XCTAssertEqual(equal.refusal(axisLength: d) == nil, pieces.reduce(0, +) == d && d / n > 0, "equal d=\(d) n=\(n)")

        let uneven = SplitRequirement(node: "s", opType: "Split", input: "x", axis: 0, pieces: .unevenLast(n))
        var chunk = 1
        while chunk * n < d { chunk += 1 }  // ⌈d / n⌉ by counting
        let rest = d - (n - 1) * chunk
        XCTAssertEqual(uneven.refusal(axisLength: d) == nil, rest > 0, "num_outputs d=\(d) n=\(n)")
        if rest <= 0 { XCTAssertTrue(uneven.refusal(axisLength: d)!.contains(rest < 0 ? "leaving \(rest) for the last" : "empty last piece")) }
      }
      for sizes in [[d], [1, d], [d - 1, 1], [2, 2, 2]] where sizes.allSatisfy({ $0 > 0 }) {
        let given = SplitRequirement(node: "s", opType: "Split", input: "x", axis: 0, pieces: .sizes(sizes))
        XCTAssertEqual(given.refusal(axisLength: d) == nil, sizes.reduce(0, +) == d, "sizes \(sizes) d=\(d)")
      }
    }
  }

  /// A Split of a constant folds (its pieces are Slices of constants): the requirement is
  /// checked on that path too, before the folding would clamp.
  func testFoldedSplitIsCheckedToo() throws {
    var b = GraphBuilder(seed: 3)
    let table = b.floats([1, 2, 3, 4, 5])
    let piece = b.add(.slice, [table, b.ints([0]), b.ints([5]), b.ints([0])], name: "split[0]")
    let scaled = b.add(.elementwise(.mul), [b.input, piece], name: "scaled")
    var graph = b.graph([1, 5], outputs: [scaled])
    func canonical(_ sizes: [Int]) throws -> Graph {
      graph.splitRequirements["split[0]"] = SplitRequirement(node: "split", opType: "Split", input: table, axis: 0, pieces: .sizes(sizes))
      return try Canonicalizer.canonicalize(graph, inputShape: [1, 5])
    }
    let text = message { try canonical([2, 2]) }
    XCTAssertTrue(text.contains("node 'split' (Split): splitting axis 0 of '\(table)' (shape [5]): split sizes [2, 2] add up to 4, but the axis has length 5"), text)
    let folded = try canonical([2, 3])
    XCTAssertFalse(folded.nodes.contains { $0.op == .slice }, "the piece folds")
  }
}
