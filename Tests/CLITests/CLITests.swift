import Foundation
import XCTest
import Relevance

/// The `clrp` command as a user runs it: exit status, what it prints, what it writes.
final class CLITests: XCTestCase {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures")

  static func fixture(_ path: String) -> String { fixtures.appendingPathComponent(path).path }

  func clrp(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) { try runCLRP(arguments) }

  /// `CLRP_THREADS` sets the threads of a run (`bench --json` reports them); an unusable value
  /// is named on stderr and the default used.
  func testThreadsFromTheEnvironment() throws {
    let binary = try EvalFixtures.binary()
    func threads(_ value: String) throws -> (Int, String) {
      let run = try EvalFixtures.shell("env -u OPENBLAS_NUM_THREADS CLRP_THREADS='\(value)' '\(binary)' bench "
                                       + "Tests/Fixtures/models/residual_dynamo.onnx --forward --runs 1 --no-reference --json")
      XCTAssertEqual(run.status, 0, run.err)
      let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any], run.out)
      return (try XCTUnwrap(json["threads"] as? Int), run.err)
    }
    XCTAssertEqual(try threads("1").0, 1)
    XCTAssertEqual(try threads("3").0, 3)
    let (count, err) = try threads("many")
    XCTAssertGreaterThanOrEqual(count, 1)
    XCTAssertTrue(err.contains("CLRP_THREADS=many is not a positive whole number of threads"), err)
  }

  func testClassifyWritesTheReferenceLogits() throws {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-cli-\(UUID()).npy").path
    defer { try? FileManager.default.removeItem(atPath: output) }
    let run = try clrp(["classify", Self.fixture("models/caffe_small.onnx"), Self.fixture("reference/caffe_small.input.npy"),
                        "--top", "3", "--output", output])
    XCTAssertEqual(run.status, 0, run.err)
    XCTAssertTrue(run.out.contains("image 1:"), run.out)
    XCTAssertTrue(run.err.contains("removed the trailing Softmax"), run.err)
    let logits = try NPY.read(path: output)
    let expected = try NPY.read(path: Self.fixture("reference/caffe_small.presoftmax.npy"))
    XCTAssertEqual(logits.shape, expected.shape)
    let scale = expected.data.map(abs).max()!
    XCTAssertLessThan(zip(logits.data, expected.data).map { abs($0 - $1) }.max()! / scale, 1e-4)
  }

  func testClassifyJSON() throws {
    let run = try clrp(["classify", Self.fixture("models/vgg16_small.onnx"), Self.fixture("relevance/vgg16_small.input.npy"), "--json", "--top", "2"])
    XCTAssertEqual(run.status, 0, run.err)
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any])
    let top = try XCTUnwrap(object["top"] as? [[String: Any]])
    XCTAssertEqual(top.count, 2)
    XCTAssertGreaterThanOrEqual(top[0]["score"] as! Double, top[1]["score"] as! Double)
  }

  func testInspectPrintsTotalsAndRules() throws {
    let run = try clrp(["inspect", Self.fixture("models/alexnet_small.onnx"), "--rules", "paper", "--preprocess", "imagenet"])
    XCTAssertEqual(run.status, 0, run.err)
    XCTAssertTrue(run.out.contains("zbox"), run.out)
    XCTAssertTrue(run.out.contains("winner-take-all"), run.out)
    XCTAssertNotNil(run.out.range(of: #"\d+ nodes, [\d.]+ [kMG]? ?parameters .* MACs"#, options: .regularExpression), run.out)
  }

  /// The per-op-type summary against counts worked out by hand from `TinyResidualNet` in
  /// Graphs/export_dynamo.py (BatchNorm folded into the convs, ReLU6 exported as Clip).
  func testInspectCountsNodesParametersAndMACsPerOpType() throws {
    let run = try clrp(["inspect", Self.fixture("models/residual_dynamo.onnx"), "--json"])
    XCTAssertEqual(run.status, 0, run.err)
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any])
    let rows = try XCTUnwrap(object["op_counts"] as? [[String: Any]])
    var counts: [String: Int] = [:], params: [String: Int] = [:], macs: [String: Int] = [:]
    for row in rows {
      let op = try XCTUnwrap(row["op"] as? String)
      (counts[op], params[op], macs[op]) = (row["count"] as? Int, row["params"] as? Int, row["macs"] as? Int)
    }
    XCTAssertEqual(counts, ["Conv": 4, "Relu": 3, "Clip": 1, "Add": 1, "MaxPool": 1, "GlobalAveragePool": 1,
                            "Reshape": 1, "Dense": 1])
    // stem 16·3·3·3 + 16, two block convs 16·16·3·3 + 16 each, grouped down conv 32·8·3·3 + 32.
    XCTAssertEqual(params["Conv"], 448 + 2 * 2320 + 2336)
    XCTAssertEqual(params["Dense"], 32 * 10 + 10)
    // MACs: output positions × taps per output: 16·24²·27, 2 × 16·24²·144, 32·12²·72; dense 32·10.
    XCTAssertEqual(macs["Conv"], 16 * 576 * 27 + 2 * 16 * 576 * 144 + 32 * 144 * 72)
    XCTAssertEqual(macs["Dense"], 320)
    XCTAssertEqual(macs["Relu"], 0)
    XCTAssertEqual(rows.first?["op"] as? String, "Conv", "most frequent op first")

    let text = try clrp(["inspect", Self.fixture("models/residual_dynamo.onnx")])
    XCTAssertEqual(text.status, 0, text.err)
    let summary = try XCTUnwrap(text.out.components(separatedBy: "per op type:").last)
    XCTAssertNotNil(summary.range(of: #"\nConv\s+4\s+7\.42 k\s+3\.23 M"#, options: .regularExpression), summary)
    XCTAssertNotNil(summary.range(of: #"\nRelu\s+3\s+-\s+-"#, options: .regularExpression), summary)
  }

  /// `bench --convs` sorts TinyResidualNet's four convolutions (Graphs/export_dynamo.py) into
  /// their kinds: the 3×3/2 stem, two 3×3/1 block convs and the grouped 3×3/2 down conv.
  func testBenchConvsGroupsConvolutionsByKind() throws {
    let run = try clrp(["bench", Self.fixture("models/residual_dynamo.onnx"), "--convs", "--runs", "1", "--threads", "1", "--json"])
    XCTAssertEqual(run.status, 0, run.err)
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any])
    let kinds = try XCTUnwrap(object["kinds"] as? [[String: Any]])
    var counts: [String: Int] = [:], macs: [String: Int] = [:]
    for kind in kinds { (counts[kind["kind"] as! String], macs[kind["kind"] as! String]) = (kind["count"] as? Int, kind["macs"] as? Int) }
    XCTAssertEqual(counts, ["regular 3x3/2": 1, "regular 3x3/1": 2, "grouped 3x3/2 (g=2)": 1])
    XCTAssertEqual(macs["regular 3x3/1"], 2 * 16 * 576 * 144)
    XCTAssertGreaterThan(object["total_seconds"] as? Double ?? 0, 0)
  }

  func testVerifyPassesForPaperAndFailsWhereRelevanceLeaks() throws {
    let pass = try clrp(["verify", Self.fixture("models/vgg16_small.onnx"), "--rules", "paper", "--preprocess", "imagenet"])
    XCTAssertEqual(pass.status, 0, pass.out + pass.err)
    XCTAssertTrue(pass.out.contains("every conserving rule conserved"), pass.out)
    // Alpha-beta leaks where a neuron has contributions of one sign only (reduced GoogLeNet).
    let fail = try clrp(["verify", Self.fixture("models/googlenet_small.onnx"), "--rules", "alpha2beta1", "--class", "0"])
    XCTAssertEqual(fail.status, 1, fail.out + fail.err)
    XCTAssertTrue(fail.out.contains("NOT CONSERVED"), fail.out)
  }

  /// Relevance dropped at zero z⁺ denominators is measured, not assumed: on a residual block
  /// under `paper` the proportional split hands signed relevance to a conv, whose empty units
  /// then drop a negative share (the node gains). Each such node's leak must equal what arrived
  /// at its zero denominators; that is what lets verify tell it from a real leak.
  func testVerifyAccountsForRelevanceAtZeroDenominators() throws {
    let block = "zoo/bottleneck_block/"
    let run = try clrp(["verify", Self.fixture(block + "legacy.onnx"), "--rules", "paper", "--preprocess", "imagenet",
                        "--input", Self.fixture(block + "input.npy"), "--json"])
    XCTAssertEqual(run.status, 0, run.out + run.err)
    let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any])
    let layers = try XCTUnwrap(report["layers"] as? [[String: Any]])
    var gained = false
    for layer in layers where (layer["zero_denominators"] as? Int ?? 0) > 0 {
      let out = try XCTUnwrap(layer["relevance_out"] as? Double), inSum = try XCTUnwrap(layer["relevance_in"] as? Double)
      let arrived = try XCTUnwrap(layer["zero_denominator_relevance"] as? Double)
      XCTAssertEqual(out - inSum, arrived, accuracy: 1e-4 * abs(out), "\(layer["node"] ?? "")")
      XCTAssertEqual(layer["status"] as? String, "zero-denominators", "\(layer)")
      gained = gained || arrived < -1e-3 * abs(out)
    }
    XCTAssertTrue(gained, "the fixture should have a conv whose empty units receive negative relevance")
  }

  func testErrorsAreOneClearLine() throws {
    let missing = try clrp(["classify", "no/such/model.onnx", Self.fixture("reference/caffe_small.input.npy")])
    XCTAssertEqual(missing.status, 1)
    XCTAssertEqual(missing.err, "error: no/such/model.onnx: no such file\n")
    let unsupported = try clrp(["inspect", Self.fixture("bad/unsupported_op.onnx")])
    XCTAssertEqual(unsupported.status, 1)
    XCTAssertTrue(unsupported.err.contains("is not supported; supported: Add, AveragePool"), unsupported.err)
    let wrongShape = try clrp(["classify", Self.fixture("models/vgg16_small.onnx"), Self.fixture("reference/caffe_small.input.npy")])
    XCTAssertEqual(wrongShape.status, 1)
    XCTAssertTrue(wrongShape.err.contains("[1, 3, 64, 64]") || wrongShape.err.contains("has shape"), wrongShape.err)
    let badRules = try clrp(["verify", Self.fixture("models/vgg16_small.onnx"), "--rules", "nonsense"])
    XCTAssertEqual(badRules.status, 1)
    XCTAssertTrue(badRules.err.contains("paper"), badRules.err)
  }

  func testHelpTeaches() throws {
    let run = try clrp(["verify", "--help"])
    XCTAssertEqual(run.status, 0)
    XCTAssertTrue(run.out.contains("Examples:"), run.out)
    XCTAssertTrue(run.out.contains("--rules"), run.out)
  }
}
