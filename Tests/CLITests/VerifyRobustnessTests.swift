import Foundation
import XCTest
import Relevance

/// `clrp verify` on hostile rule files, inputs and options: one clear `error:` line and exit 1,
/// or a correct report, never a crash, a hang or "conserved" with NaN sums.
final class VerifyRobustnessTests: XCTestCase {
  let vgg = CLITests.fixture("models/vgg16_small.onnx")
  var scratch: URL!

  override func setUpWithError() throws {
    scratch = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-verify-\(UUID())")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(at: scratch)
  }

  func write(_ name: String, _ text: String) throws -> String {
    let url = scratch.appendingPathComponent(name)
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
  }

  func npy(_ name: String, shape: [Int], value: Float) throws -> String {
    let path = scratch.appendingPathComponent(name).path
    try NPY.write(Tensor(shape: shape, data: [Float](repeating: value, count: shape.reduce(1, *))), path: path)
    return path
  }

  /// Exit status 1 and stderr exactly one line `error: ...` containing `parts`.
  func assertOneError(_ arguments: [String], _ parts: [String], file: StaticString = #filePath, line: UInt = #line) throws {
    let run = try runCLRP(arguments)
    XCTAssertEqual(run.status, 1, run.out + run.err, file: file, line: line)
    XCTAssertTrue(run.err.hasPrefix("error: ") && run.err.hasSuffix("\n"), run.err, file: file, line: line)
    XCTAssertEqual(run.err.split(separator: "\n").count, 1, run.err, file: file, line: line)
    for part in parts { XCTAssertTrue(run.err.contains(part), run.err, file: file, line: line) }
  }

  // Case 1: relevance 0 everywhere (a huge but representable epsilon) used to abort on `as! Double`.
  func testZeroRelevanceIsReportedNotCrashed() throws {
    let rules = try write("eps.yaml", """
      rules:
        - {op: linear, rule: epsilon, epsilon: 1e30}
        - {op: MaxPool, rule: winner-take-all}
        - {op: pooling, rule: proportional}
      """)
    let run = try runCLRP(["verify", vgg, "--rules", rules])
    XCTAssertEqual(run.status, 0, run.out + run.err)
    XCTAssertTrue(run.out.contains("every conserving rule conserved"), run.out)
    let json = try runCLRP(["verify", vgg, "--rules", rules, "--json"])
    XCTAssertEqual(json.status, 0, json.err)
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
    let layers = try XCTUnwrap(object["layers"] as? [[String: Any]])
    XCTAssertTrue(layers.contains { $0["ratio"] is NSNull }, json.out)
  }

  // Case 1: a class scoring exactly 0 (no relevance to conserve): in/score is undefined.
  func testClassScoringZero() throws {
    let model = CLITests.fixture("verify/zero_score.onnx")
    let run = try runCLRP(["verify", model, "--rules", "zplus", "--class", "1"])
    XCTAssertEqual(run.status, 0, run.out + run.err)
    XCTAssertTrue(run.out.contains("the score is 0, so there is no relevance to conserve"), run.out)
    let json = try runCLRP(["verify", model, "--rules", "zplus", "--class", "1", "--json"])
    XCTAssertEqual(json.status, 0, json.err)
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
    XCTAssertEqual(object["score"] as? Double, 0)
    XCTAssertTrue(object["input_ratio"] is NSNull, json.out)
    let layers = try XCTUnwrap(object["layers"] as? [[String: Any]])
    XCTAssertTrue(layers.allSatisfy { $0["ratio_to_score"] is NSNull }, json.out)
    // Class 0 of the same model: a normal report.
    let normal = try runCLRP(["verify", model, "--rules", "zplus", "--class", "0"])
    XCTAssertEqual(normal.status, 0, normal.out + normal.err)
    XCTAssertTrue(normal.out.contains("1.000000 of the score"), normal.out)
  }

  // Case 1: non-finite inputs, and relevance that overflows, are errors.
  func testNonFiniteInputOrRelevanceFails() throws {
    try assertOneError(["verify", vgg, "--input", npy("nan.npy", shape: [1, 3, 64, 64], value: .nan)],
                       ["nan.npy: has 12288 non-finite value(s) (NaN or infinity)"])
    try assertOneError(["verify", vgg, "--input", npy("inf.npy", shape: [3, 64, 64], value: .infinity)],
                       ["inf.npy: has 12288 non-finite value(s)"])
    let run = try runCLRP(["verify", vgg, "--rules", "zplus", "--input", npy("huge.npy", shape: [1, 3, 64, 64], value: 3e38)])
    XCTAssertEqual(run.status, 1, run.out + run.err)
    XCTAssertTrue(run.err.hasPrefix("error: "), run.err)
    XCTAssertTrue(run.err.contains("NaN") || run.err.contains("inf"), run.err)
    XCTAssertFalse(run.out.contains("conserved"), run.out)
  }

  // Cases 1 and 12: rule and preprocessing numbers beyond Float.
  func testNumbersBeyondFloatAreErrors() throws {
    let rules = try write("eps300.yaml", """
      rules:
        - {op: linear, rule: epsilon, epsilon: 1e300}
        - {op: MaxPool, rule: winner-take-all}
        - {op: pooling, rule: proportional}
      """)
    try assertOneError(["verify", vgg, "--rules", rules], ["eps300.yaml: entry 1 (line 2:", "`epsilon` 1e+300 is too large for 32-bit floats"])
    let prep = try write("std.yaml", "mean: 0\nstd: 1e-45\n")
    try assertOneError(["verify", vgg, "--preprocess", prep], ["std.yaml: `std` 1e-45 is too small"])
  }

  // Case 2: deep nesting is refused before the YAML parser recurses.
  func testDeeplyNestedFilesAreRefused() throws {
    let deep = try write("deep.yaml", "rules: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n")
    try assertOneError(["verify", vgg, "--rules", deep], ["deep.yaml: line 1: lists and mappings are nested more than 64 levels deep"])
    var block = "mean:\n"
    for i in 0..<3000 { block += String(repeating: " ", count: i + 1) + "k\(i):\n" }
    let deepPrep = try write("deep-prep.yaml", block)
    try assertOneError(["verify", vgg, "--preprocess", deepPrep], ["deep-prep.yaml: line 65: lists and mappings are nested more than 64"])
  }

  // Case 6: an alias bomb is refused quickly, with a short message.
  func testAliasBombIsRefused() throws {
    var anchors = ["&a0 [" + Array(repeating: "x", count: 10).joined(separator: ", ") + "]"]
    for i in 1..<10 { anchors.append("&a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]") }
    let bomb = try write("bomb.yaml", "rules:\n  - {op: linear, rule: nonsense, name: [" + anchors.joined(separator: ", ") + "]}\n")
    let started = Date()
    try assertOneError(["verify", vgg, "--rules", bomb], ["bomb.yaml: has more than 100000 values once its aliases"])
    XCTAssertLessThan(Date().timeIntervalSince(started), 30)
  }

  // Case 13: entries with name/position/index that select nothing get a note, as in inspect.
  func testUnmatchedEntriesGetANote() throws {
    let rules = try write("typo.yaml", """
      rules:
        - {op: Conv, name: "/featurs/*", rule: zbox, low: -3, high: 3}
        - {op: linear, rule: zplus}
        - {op: MaxPool, rule: winner-take-all}
        - {op: pooling, rule: proportional}
      """)
    let run = try runCLRP(["verify", vgg, "--rules", rules])
    XCTAssertEqual(run.status, 0, run.out + run.err)
    XCTAssertTrue(run.err.contains("note: \(rules): entry 1 (line 2: {op: Conv, name: '/featurs/*', rule: zbox, low: -3, high: 3}) matches no node"), run.err)
  }

  // Case 14: --tolerance is a finite number >= 0.
  func testToleranceIsValidated() throws {
    try assertOneError(["verify", vgg, "--tolerance=-1"], ["--tolerance must be a finite number >= 0", "not -1.0"])
    try assertOneError(["verify", vgg, "--tolerance", "nan"], ["--tolerance must be a finite number >= 0", "not nan"])
    try assertOneError(["verify", vgg, "--tolerance", "inf"], ["--tolerance must be a finite number >= 0"])
  }

  // Case 16: a graph without nodes has nothing to explain.
  func testGraphWithoutNodesIsRefused() throws {
    try assertOneError(["verify", CLITests.fixture("verify/no_nodes.onnx")],
                       ["no_nodes.onnx: the graph has no nodes (its output is its input 'x'): there is no decision to explain"])
  }

  // Zero denominators of z⁺ lose relevance by the rule's definition: a warning, exit 0.
  func testZeroDenominatorsAreAWarningNotAFailure() throws {
    let run = try runCLRP(["verify", CLITests.fixture("models/googlenet_small.onnx"), "--rules", "paper", "--preprocess", "imagenet"])
    XCTAssertEqual(run.status, 0, run.out + run.err)
    XCTAssertTrue(run.out.contains("LOST AT ZERO DENOMINATORS"), run.out)
    XCTAssertTrue(run.out.contains("cannot conserve where all inputs of a unit are 0"), run.out)
    XCTAssertTrue(run.out.contains("every other conserving rule conserved within"), run.out)
    XCTAssertFalse(run.out.contains("NOT CONSERVED"), run.out)
    XCTAssertTrue(run.err.contains("warning: 2 node(s) lost relevance only where denominators are exactly 0"), run.err)
    let json = try runCLRP(["verify", CLITests.fixture("models/googlenet_small.onnx"), "--rules", "paper", "--preprocess", "imagenet", "--json"])
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
    XCTAssertEqual((object["zero_denominator_losses"] as? [String])?.count, 2, json.out)
    XCTAssertEqual(object["conserved"] as? Bool, true)
  }
}
