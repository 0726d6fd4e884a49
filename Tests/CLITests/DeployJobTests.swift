import Foundation
import XCTest
import Relevance

/// The scheduler job files in deploy/: their per-index `clrp eval pointing` line, run through
/// `/bin/sh -c` for every index with the environment a task gets, then their merge lines,
/// give the records and CSV of one unsharded run.
final class DeployJobTests: XCTestCase {
  var directory = ""
  var data = ""
  let methods = "lrp,clrp2,gradient,random"
  static let root = CLITests.fixtures.deletingLastPathComponent().deletingLastPathComponent()

  override func setUpWithError() throws {
    // A space in the path checks the files' quoting.
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("clrp deploy-\(UUID())").path
    data = try EvalFixtures.makeDataset(in: directory)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

  /// The text of a file in deploy/.
  func jobFile(_ path: String) throws -> String {
    try String(contentsOf: Self.root.appendingPathComponent("deploy/" + path), encoding: .utf8)
  }

  /// The command lines of `text` (not comments) that run `clrp eval SUBCOMMAND`, with a YAML
  /// list's leading "- " removed.
  func commands(_ text: String, running subcommands: [String]) -> [String] {
    text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { line in !line.hasPrefix("#") && subcommands.contains { line.contains("clrp eval \($0) ") } }
      .map { $0.hasPrefix("- ") ? String($0.dropFirst(2)) : $0 }
  }

  /// Runs the per-index line of `evalFile` for indices 0..<3 (index variable `indexVariable`),
  /// then the merge lines of `mergeFile`, and compares with an unsharded run.
  func checkJob(evalFile: String, mergeFile: String, indexVariable: String) throws {
    let perIndex = commands(try jobFile(evalFile), running: ["pointing"])
    XCTAssertEqual(perIndex.count, 1, "one per-index command in \(evalFile): \(perIndex)")
    let line = try XCTUnwrap(perIndex.first)
    XCTAssertTrue(line.hasPrefix("clrp eval pointing "), line)
    let out = directory + "/runs " + indexVariable
    let binaryFolder = (try EvalFixtures.binary() as NSString).deletingLastPathComponent
    var environment = ["MODEL": EvalFixtures.model, "DATA": data, "METHODS": methods, "SHARDS": "3", "OUT": out,
                       "PATH": binaryFolder + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
    for index in 0..<3 {
      environment[indexVariable] = "\(index)"
      let run = try EvalFixtures.shell(line, environment: environment)
      XCTAssertEqual(run.status, 0, "index \(index): \(run.err)")
      XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/shard-\(index)/pointing.jsonl"), "index \(index) writes its shard")
    }
    environment[indexVariable] = nil
    let merge = commands(try jobFile(mergeFile), running: ["merge", "report"])
    XCTAssertTrue(merge.first?.hasPrefix("clrp eval merge ") ?? false, "\(mergeFile): \(merge)")
    let merged = try EvalFixtures.shell(merge.joined(separator: "\n"), environment: environment)
    XCTAssertEqual(merged.status, 0, merged.err)

    let single = try runCLRP(["eval", "pointing", "--model", EvalFixtures.model, "--data", data, "--methods", methods,
                              "--output", directory + "/single", "--quiet"])
    XCTAssertEqual(single.status, 0, single.err)
    func lines(_ folder: String) throws -> [String] {
      try String(contentsOfFile: folder + "/pointing.jsonl", encoding: .utf8).split(separator: "\n").map(String.init).sorted()
    }
    XCTAssertEqual(try lines(out + "/merged"), try lines(directory + "/single"))
    XCTAssertEqual(try String(contentsOfFile: out + "/merged/pointing.csv", encoding: .utf8),
                   try String(contentsOfFile: directory + "/single/pointing.csv", encoding: .utf8))
    if merge.contains(where: { $0.contains("clrp eval report") }) {
      XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/report/index.html"), "the merge job makes the report")
    }
  }

  func testSlurmArrayJobShardsMergeToTheSingleRun() throws {
    let text = try jobFile("slurm/clrp-eval.sbatch")
    XCTAssertTrue(text.contains("#SBATCH --array=0-15") && text.contains("SHARDS=${SHARDS:-16}"), "16 tasks, 16 shards")
    XCTAssertTrue(text.contains("--dependency=afterok:"), "says how to chain the merge job")
    for variable in ["MODEL", "DATA", "METHODS", "SHARDS", "OUT"] { XCTAssertTrue(text.contains("\n\(variable)=${\(variable):-"), variable) }
    try checkJob(evalFile: "slurm/clrp-eval.sbatch", mergeFile: "slurm/clrp-merge.sbatch", indexVariable: "SLURM_ARRAY_TASK_ID")
  }

  func testKubernetesIndexedJobShardsMergeToTheSingleRun() throws {
    let text = try jobFile("kubernetes/clrp-eval-job.yaml")
    XCTAssertTrue(text.contains("completionMode: Indexed") && text.contains("completions: 16") && text.contains("SHARDS: \"16\""),
                  "an Indexed Job of 16 completions, 16 shards")
    XCTAssertTrue(text.contains("persistentVolumeClaim:"), "shards go to a shared volume")
    for variable in ["MODEL", "DATA", "METHODS", "SHARDS", "OUT"] { XCTAssertTrue(text.contains("\n  \(variable): "), variable) }
    try checkJob(evalFile: "kubernetes/clrp-eval-job.yaml", mergeFile: "kubernetes/clrp-merge-job.yaml", indexVariable: "JOB_COMPLETION_INDEX")
  }
}
