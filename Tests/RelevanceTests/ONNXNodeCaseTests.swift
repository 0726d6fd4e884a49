import Foundation
import XCTest
@testable import Relevance

/// ONNX's own node conformance cases (`Tests/Fixtures/onnx-node-cases`, written by
/// `Graphs/onnx_node_cases.py` from `onnx.backend.test.case.node`, expected outputs from ONNX's
/// reference implementation) through clrp's importer, canonicalizer and forward plan.
///
/// Every case must either match its expected output (max|Δ| ≤ tolerance · max|expected|, tolerance
/// 1e-4 except where ONNX's expected output is hand-rounded, see the manifest; shapes equal up to
/// sizes of 1) or be refused with a ModelError that names the node or operator and says why.
/// A silent mismatch, or any other error, fails. A model that is a single trailing Softmax is
/// stripped by the canonicalizer (clrp explains pre-softmax scores): its output must then equal
/// the input. Prints matched / refused per operator and every refusal of an imported operator.
///
/// `knownSilentMismatches` lists the cases clrp gets wrong today without an error (bugs reported to
/// the lead): they must still mismatch, so that a fix is noticed and the entry removed.
final class ONNXNodeCaseTests: XCTestCase {
  struct Manifest: Decodable {
    struct Case: Decodable {
      let name: String
      let op_type: String
      let tolerance: Float
    }
    let cases: [Case]
    let supported_by_importer: [String]
  }

  enum Outcome: Equatable { case matched, stripped, refused(String), mismatched(String) }

  /// Cases clrp gets wrong today without an error (none at present; add a case with the bug).
  static let knownSilentMismatches: [String: String] = [:]

  /// Cases that must be refused, with a part of the message that says why: Dropout in training
  /// mode (random), and Resize scales whose fractional output length the ONNX specification and
  /// onnxruntime treat differently (see `Resize2D.fractionalLengthProblem`), and Slice of run-time
  /// data with steps other than 1.
  static let refusedByDesign: [String: String] = [
    "test_training_dropout": "training_mode=true",
    "test_training_dropout_default": "training_mode=true",
    "test_training_dropout_default_mask": "training_mode=true",
    "test_training_dropout_mask": "training_mode=true",
    "test_resize_downsample_scales_linear_align_corners": "fractional output length",
    "test_slice_neg_steps": "steps [-1, -3, -2] is not supported",
  ]

  func testEveryCaseMatchesOrIsRefusedByName() throws {
    let directory = Fixtures.path("onnx-node-cases")
    let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json")))
    XCTAssertGreaterThanOrEqual(manifest.cases.count, 200)
    var byOp: [String: (matched: Int, refused: Int)] = [:]
    var refusals: [String] = []
    for entry in manifest.cases {
      let outcome = try run(directory + "/" + entry.name, name: entry.name, tolerance: entry.tolerance)
      if let bug = Self.knownSilentMismatches[entry.name] {
        guard case .mismatched(let what) = outcome else {
          XCTFail("\(entry.name) no longer mismatches (\(outcome)): remove it from knownSilentMismatches (\(bug))")
          continue
        }
        print("  known bug: \(entry.name): \(bug): \(what)")
        continue
      }
      if let why = Self.refusedByDesign[entry.name] {
        guard case .refused(let message) = outcome, message.contains(why) else {
          XCTFail("\(entry.name) must be refused ('\(why)'): \(outcome)")
          continue
        }
      }
      if case .mismatched(let what) = outcome { XCTFail(what) }
      var counts = byOp[entry.op_type] ?? (0, 0)
      switch outcome {
      case .matched, .stripped: counts.matched += 1
      case .mismatched: break
      case .refused(let message):
        counts.refused += 1
        if manifest.supported_by_importer.contains(entry.op_type) { refusals.append("\(entry.name): \(message)") }
      }
      byOp[entry.op_type] = counts
    }
    print("ONNX node cases: \(byOp.values.map(\.matched).reduce(0, +)) matched, \(byOp.values.map(\.refused).reduce(0, +)) refused")
    for (op, counts) in byOp.sorted(by: { $0.key < $1.key }) {
      let claimed = manifest.supported_by_importer.contains(op) ? "" : "  (not imported)"
      print("  \(op.padding(toLength: 20, withPad: " ", startingAt: 0)) matched \(counts.matched)  refused \(counts.refused)\(claimed)")
    }
    for refusal in refusals { print("  refused (imported op): \(refusal)") }
  }

  /// Runs one case: matched, stripped (a trailing Softmax), refused with a named ModelError, or
  /// mismatched (with what differs); fails the test on an error that is not a named refusal.
  func run(_ directory: String, name: String, tolerance: Float) throws -> Outcome {
    let input = try NPY.read(path: directory + "/input.npy")
    let expected = try NPY.read(path: directory + "/expected.npy")
    let graph: Graph
    let output: Tensor
    do {
      let model = try Model(path: directory + "/model.onnx")
      graph = try model.canonical(inputShape: input.shape)
      let plan = try ForwardPlan(graph: graph)
      output = try XCTUnwrap(try plan.run(input)[graph.outputs[0]], name)
    } catch let error as ModelError {
      XCTAssertTrue(error.nodeName != nil || error.opType != nil, "\(name): the refusal names no node or operator: \(error)")
      XCTAssertFalse(error.message.isEmpty, "\(name): the refusal gives no reason")
      return .refused(error.description.replacingOccurrences(of: directory + "/", with: ""))
    }
    if graph.notes.contains(where: { $0.hasPrefix("removed the trailing Softmax") }) {
      return output.data == input.data ? .stripped : .mismatched("\(name): a stripped Softmax must output its input")
    }
    guard output.shape.filter({ $0 != 1 }) == expected.shape.filter({ $0 != 1 }) else {
      return .mismatched("\(name): shape \(output.shape), expected \(expected.shape)")
    }
    let error = relativeError(output.data, expected.data)
    return error <= tolerance ? .matched : .mismatched("\(name): max|Δ| / max|expected| = \(error) > \(tolerance)")
  }
}
