import Foundation
import XCTest

/// `clrp inspect` on the Split fixtures (`Graphs/split_cases.py`): a rule file's `op: Slice`
/// reaches the pieces and the table says which entry chose it; a Split that does not fit its
/// axis is one error line naming the node and the numbers; an unknown op name is one line.
final class SplitSliceCLITests: XCTestCase {
  func testInspectShowsTheSliceRule() throws {
    let rules = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-slice-\(UUID()).yaml").path
    defer { try? FileManager.default.removeItem(atPath: rules) }
    try "rules:\n  - {op: Slice, rule: gradient}\n".write(toFile: rules, atomically: true, encoding: .utf8)
    let run = try runCLRP(["inspect", CLITests.fixture("split/sizes_attribute_opset11.onnx"), "--rules", rules, "--json"])
    XCTAssertEqual(run.status, 0, run.err)
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any])
    let rows = try XCTUnwrap(object["nodes"] as? [[String: Any]], "\(object.keys)")
    let slices = rows.filter { $0["op"] as? String == "Slice" }
    XCTAssertEqual(slices.map { $0["name"] as? String }, ["split[0]", "split[1]"])
    for row in slices {
      XCTAssertEqual(row["source_op"] as? String, "Split")
      XCTAssertEqual(row["rule"] as? String, "gradient")
      XCTAssertEqual(row["why"] as? String, "entry 1 (op: Slice)")
    }
  }

  func testInspectRefusesASplitThatDoesNotFitItsAxis() throws {
    let run = try runCLRP(["inspect", CLITests.fixture("split/sizes_input_short_opset13.onnx")])
    XCTAssertEqual(run.status, 1, run.out)
    XCTAssertEqual(run.err.filter { $0 == "\n" }.count, 1, "one line: \(run.err)")
    for part in ["sizes_input_short_opset13.onnx", "node 'split' (Split)", "split sizes [1, 2, 2] add up to 5, but the axis has length 6"] {
      XCTAssertTrue(run.err.contains(part), "'\(part)' missing from: \(run.err)")
    }
  }

  func testUnknownOpNameIsOneLine() throws {
    let rules = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-typo-\(UUID()).yaml").path
    defer { try? FileManager.default.removeItem(atPath: rules) }
    try "rules:\n  - {op: Slise, rule: pass}\n".write(toFile: rules, atomically: true, encoding: .utf8)
    let run = try runCLRP(["inspect", CLITests.fixture("split/sizes_attribute_opset11.onnx"), "--rules", rules])
    XCTAssertEqual(run.status, 1, run.out)
    XCTAssertEqual(run.err.filter { $0 == "\n" }.count, 1, "one line: \(run.err)")
    for part in ["unknown op `Slise` (did you mean Slice?)", "Docs/RULES.md", "clrp inspect MODEL"] {
      XCTAssertTrue(run.err.contains(part), "'\(part)' missing from: \(run.err)")
    }
  }
}
