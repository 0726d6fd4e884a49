import Foundation
import XCTest
import Relevance

/// `clrp eval`: shards merged equal one run, an interrupted run resumes, a corrupt image is
/// counted and the run goes on, JSON has the documented shape.
final class EvalCLITests: XCTestCase {
  var directory = ""

  override func setUpWithError() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-eval-\(UUID())").path
    try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
    // Seven small images (one corrupt) with boxes, classes of the 10-class fixture model.
    let images = ["png_rgb8.png", "png_gray8.png", "png_palette8.png", "jpeg_rgb.jpg", "png_rgb16.png", "garbage.png", "png_graya8.png"]
    var entries: [String] = []
    for (i, name) in images.enumerated() {
      let target = directory + "/data/" + name
      try FileManager.default.copyItem(atPath: CLITests.fixture("images/" + name), toPath: target)
      let size = name == "garbage.png" ? (7, 5) : try { let p = try ImageFile.read(path: target); return (p.width, p.height) }()
      entries.append(#"{"file": "\#(name)", "width": \#(size.0), "height": \#(size.1), "objects": [{"class": \#(i % 10), "box": [0, 0, \#(size.0 / 2 + 1), \#(size.1)]}, {"class": \#((i + 3) % 10), "box": [\#(size.0 / 2), 0, \#(size.0), \#(size.1)]}]}"#)
    }
    let classes = (0..<10).map { "\"c\($0)\"" }.joined(separator: ", ")
    try "{\"classes\": [\(classes)], \"images\": [\(entries.joined(separator: ", "))]}"
      .write(toFile: directory + "/data/annotations.json", atomically: true, encoding: .utf8)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

  func eval(_ kind: String, _ output: String, _ extra: [String] = []) throws -> (status: Int32, out: String, err: String) {
    try runCLRP(["eval", kind, "--model", CLITests.fixture("models/vgg16_small.onnx"), "--data", directory + "/data",
                 "--methods", "lrp,clrp2,gradient,random", "--output", directory + "/" + output] + extra)
  }

  func records(_ output: String, _ kind: String = "pointing") throws -> [String] {
    try String(contentsOfFile: directory + "/\(output)/\(kind).jsonl", encoding: .utf8).split(separator: "\n").map(String.init).sorted()
  }

  func testShardsMergeToTheSingleRun() throws {
    let single = try eval("pointing", "single", ["--json"])
    XCTAssertEqual(single.status, 0, single.err)
    let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(single.out.utf8)) as? [String: Any])
    XCTAssertEqual(summary["images"] as? Int, 6)
    XCTAssertEqual(summary["failed"] as? Int, 1, "the corrupt image is counted, the run goes on")
    let lrp = try XCTUnwrap((summary["methods"] as? [String: Any])?["lrp"] as? [String: Any])
    XCTAssertEqual((lrp["accuracy"] as? [Double])?.count, 10)
    XCTAssertNotNil(lrp["point_accuracy"])

    // One image at a time (all BLAS threads each) gives the same records as one per core.
    XCTAssertEqual(try eval("pointing", "serial", ["--jobs", "1"]).status, 0)
    XCTAssertEqual(try records("serial"), try records("single"))

    for i in 0..<3 { XCTAssertEqual(try eval("pointing", "s\(i)", ["--shard", "\(i)/3"]).status, 0) }
    let merge = try runCLRP(["eval", "merge", directory + "/s0", directory + "/s1", directory + "/s2", "--output", directory + "/merged"])
    XCTAssertEqual(merge.status, 0, merge.err)
    XCTAssertEqual(try records("merged"), try records("single"))
    let a = try String(contentsOfFile: directory + "/single/pointing.csv", encoding: .utf8)
    XCTAssertEqual(try String(contentsOfFile: directory + "/merged/pointing.csv", encoding: .utf8), a)

    // Runs with other settings do not merge.
    XCTAssertEqual(try eval("pointing", "other", ["--energies", "0.5"]).status, 0)
    let bad = try runCLRP(["eval", "merge", directory + "/s0", directory + "/other", "--output", directory + "/bad"])
    XCTAssertEqual(bad.status, 1)
    XCTAssertTrue(bad.err.contains("other settings") && bad.err.contains("energies"), bad.err)
  }

  func testInterruptedRunResumes() throws {
    XCTAssertEqual(try eval("ablation", "run", ["--limit", "3"]).status, 0)
    XCTAssertEqual(try records("run", "ablation").count, 3)
    // A record cut off mid-line by an interruption is dropped and redone.
    let path = directory + "/run/ablation.jsonl"
    let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
    handle.seekToEndOfFile()
    handle.write(Data(#"{"cases":[{"class":1,"#.utf8))
    handle.closeFile()
    let resumed = try eval("ablation", "run")
    XCTAssertEqual(resumed.status, 0, resumed.err)
    let fresh = try eval("ablation", "fresh")
    XCTAssertEqual(fresh.status, 0, fresh.err)
    XCTAssertEqual(try records("run", "ablation"), try records("fresh", "ablation"))
    XCTAssertTrue(resumed.out.contains("mean drop"), resumed.out)
    // The same folder with other settings is refused.
    let clash = try eval("ablation", "run", ["--patch", "5"])
    XCTAssertEqual(clash.status, 1)
    XCTAssertTrue(clash.err.contains("other settings"), clash.err)
  }

  func testBadDatasetsAreClearErrors() throws {
    let missing = try runCLRP(["eval", "pointing", "--model", CLITests.fixture("models/vgg16_small.onnx"), "--data", directory + "/nope"])
    XCTAssertEqual(missing.status, 1)
    XCTAssertTrue(missing.err.contains("no such dataset"), missing.err)
    let shard = try eval("pointing", "x", ["--shard", "3/3"])
    XCTAssertEqual(shard.status, 1)
    XCTAssertTrue(shard.err.contains("--shard must be i/n"), shard.err)
    let method = try eval("pointing", "x", ["--methods", "lrp,magic"])
    XCTAssertTrue(method.err.contains("unknown method 'magic'"), method.err)
  }
}
