import Foundation
import XCTest
import Relevance

/// `clrp eval report`: one self-contained page whose plots, tables and pictures match the runs,
/// that a browser (headless Chromium) shows without errors.
final class EvalReportTests: XCTestCase {
  /// One pointing and one ablation run on the tiny dataset, shared by the tests (made once).
  nonisolated(unsafe) static var directory = ""
  static let pointingMethods = ["lrp", "clrp2", "gradient", "random"]
  static let ablationMethods = ["lrp", "clrp2", "random"]

  override class func setUp() {
    super.setUp()
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-report-\(UUID())").path
    do {
      let data = try EvalFixtures.makeDataset(in: directory)
      for (kind, methods) in [("pointing", pointingMethods), ("ablation", ablationMethods)] {
        let run = try runCLRP(["eval", kind, "--model", EvalFixtures.model, "--data", data, "--methods", methods.joined(separator: ","),
                               "--output", directory + "/" + kind, "--quiet"])
        if run.status != 0 { XCTFail("clrp eval \(kind) failed: \(run.err)") }
      }
      let report = try runCLRP(["eval", "report", directory + "/pointing", directory + "/ablation", "--gallery", "3", "--output", directory + "/report"])
      if report.status != 0 { XCTFail("clrp eval report failed: \(report.err)") }
    } catch {
      XCTFail("setting up the runs failed: \(error)")
    }
  }

  override class func tearDown() {
    try? FileManager.default.removeItem(atPath: directory)
    super.tearDown()
  }

  var page: String { get throws { try String(contentsOfFile: Self.directory + "/report/index.html", encoding: .utf8) } }

  /// The summary JSON of a run. (JSONDecoder, not JSONSerialization, which on Linux can read
  /// a 17-digit number one unit in the last place off.)
  func summary(_ kind: String) throws -> EvaluationSummary {
    let data = try XCTUnwrap(FileManager.default.contents(atPath: Self.directory + "/\(kind)/\(kind).summary.json"))
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return try decoder.decode(EvaluationSummary.self, from: data)
  }

  /// Every match of `pattern`'s first capture group in `text`.
  func captures(_ pattern: String, in text: String) throws -> [String] {
    try text.matches(of: Regex(pattern)).map { String($0.output[1].substring ?? "") }
  }

  /// The part of `text` from the first `start` to the next `end` after it.
  func slice(_ text: String, from start: String, to end: String) throws -> String {
    let a = try XCTUnwrap(text.range(of: start), "no \(start)")
    let b = try XCTUnwrap(text.range(of: end, range: a.upperBound..<text.endIndex), "no \(end) after \(start)")
    return String(text[a.lowerBound..<b.upperBound])
  }

  func testPlotsHaveOneLineOrBarPerMethod() throws {
    let html = try page
    let pointing = try slice(html, from: "<svg class=\"plot pointing\"", to: "</svg>")
    XCTAssertEqual(try captures(#"<polyline data-method="([^"]*)""#, in: pointing), Self.pointingMethods)
    let energies = try summary("pointing").settings.energies
    for line in try captures(#"<polyline [^>]*points="([^"]*)""#, in: pointing) {
      XCTAssertEqual(line.split(separator: " ").count, energies?.count, "one vertex per energy")
    }
    XCTAssertTrue(pointing.contains(">energy fraction<") && pointing.contains(">pointing accuracy<"), "axis labels")
    let ablation = try slice(html, from: "<svg class=\"plot ablation\"", to: "</svg>")
    XCTAssertEqual(try captures(#"<rect data-method="([^"]*)""#, in: ablation), Self.ablationMethods)
    XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 2, "one plot per run")
  }

  func testTablesHoldTheSummaryNumbers() throws {
    let html = try page
    let pointing = try slice(html, from: "<table class=\"results pointing\"", to: "</table>")
    let methods = try summary("pointing").methods
    for name in Self.pointingMethods {
      let row = try slice(pointing, from: "<tr data-method=\"\(name)\"", to: "</tr>")
      let values = try captures(#"data-value="([^"]*)""#, in: row).map { try XCTUnwrap(Double($0)) }
      let m = try XCTUnwrap(methods[name])
      XCTAssertEqual(values, try XCTUnwrap(m.accuracy) + [try XCTUnwrap(m.pointAccuracy)], name)
      XCTAssertTrue(row.contains("<td>\(m.cases)</td>"), row)
    }
    let ablation = try slice(html, from: "<table class=\"results ablation\"", to: "</table>")
    let drops = try summary("ablation").methods
    for name in Self.ablationMethods {
      let row = try slice(ablation, from: "<tr data-method=\"\(name)\"", to: "</tr>")
      let drop = try XCTUnwrap(drops[name]?.meanDrop)
      XCTAssertEqual(try captures(#"data-value="([^"]*)""#, in: row).compactMap(Double.init), [drop], name)
      XCTAssertTrue(row.contains(String(format: ">%.4f<", drop)), row)
    }
  }

  func testPageIsSelfContainedWithPNGPictures() throws {
    let html = try page
    XCTAssertFalse(html.contains("http://") || html.contains("https://"), "no network references")
    XCTAssertFalse(html.contains("<link") || html.contains("@import") || html.contains("src=\"/"), "no external files")
    let sources = try captures(#"<img src="([^"]*)""#, in: html)
    XCTAssertEqual(html.components(separatedBy: "<img").count - 1, sources.count, "every <img has a src first")
    // The input and four heatmaps for each of the three gallery cases.
    XCTAssertEqual(sources.count, 3 * (1 + Self.pointingMethods.count))
    for source in sources {
      let prefix = "data:image/png;base64,"
      XCTAssertTrue(source.hasPrefix(prefix), String(source.prefix(40)))
      let png = try XCTUnwrap(Data(base64Encoded: String(source.dropFirst(prefix.count))), "base64")
      let picture = try ImageFile.decode(png, name: "gallery picture")
      XCTAssertGreaterThanOrEqual(picture.width, 160, "small inputs are upscaled")
    }
    XCTAssertEqual(html.components(separatedBy: "<div class=\"case\"").count - 1, 3, "--gallery 3")
    XCTAssertTrue(html.contains("energy hits"), "captions say hit or miss")
    XCTAssertTrue(html.contains("images failed"), "settings and counts")
  }

  func testUnreachableModelIsSaidNotFatal() throws {
    let moved = Self.directory + "/moved"
    try? FileManager.default.removeItem(atPath: moved)
    try FileManager.default.copyItem(atPath: Self.directory + "/pointing", toPath: moved)
    let settings = moved + "/pointing.settings.json"
    let text = try String(contentsOfFile: settings, encoding: .utf8)
    let escapedModel = EvalFixtures.model.replacingOccurrences(of: "/", with: "\\/")
    XCTAssertTrue(text.contains(escapedModel), text)
    try text.replacingOccurrences(of: escapedModel, with: "\\/nowhere\\/model.onnx").write(toFile: settings, atomically: true, encoding: .utf8)
    let run = try runCLRP(["eval", "report", moved, "--gallery", "2", "--output", Self.directory + "/moved-report"])
    XCTAssertEqual(run.status, 0, run.err)
    let html = try String(contentsOfFile: Self.directory + "/moved-report/index.html", encoding: .utf8)
    XCTAssertTrue(html.contains("/nowhere/model.onnx: the model is no longer there"), html)
    XCTAssertFalse(html.contains("<img"))
    XCTAssertEqual(html.components(separatedBy: "<div class=\"case\"").count - 1, 2, "recorded results still shown")
  }

  func testAFolderThatIsNotARunIsAClearError() throws {
    let empty = Self.directory + "/empty"
    try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
    let run = try runCLRP(["eval", "report", empty, "--output", Self.directory + "/bad"])
    XCTAssertEqual(run.status, 1)
    XCTAssertEqual(run.err, "error: \(empty): is not an evaluation run (no pointing.settings.json or ablation.settings.json)\n")
    let missing = try runCLRP(["eval", "report", Self.directory + "/nope", "--output", Self.directory + "/bad"])
    XCTAssertEqual(missing.status, 1)
    XCTAssertTrue(missing.err.contains("no such folder"), missing.err)
    XCTAssertFalse(FileManager.default.fileExists(atPath: Self.directory + "/bad/index.html"))
  }

  /// Every text from runs (paths, method and image names, notes) is escaped, in HTML and SVG;
  /// the disagreement score is the variance over methods of the share of energies hit.
  func testAllTextIsEscaped() throws {
    let settings = EvaluationSettings(kind: "pointing", model: "m<1>.onnx", dataset: "d&d", methods: ["lrp", "<script>"], rules: nil,
                                      preprocess: "imagenet", dual: "uniform", normalize: "none", energies: [0.5, 1], tolerance: 0)
    let json = #"{"index": 0, "image": "a\"<b>.png", "cases": [{"class": 1, "method": "lrp", "hits": [true, false], "point": true}, "#
      + #"{"class": 1, "method": "<script>", "hits": [false, false], "point": false}]}"#
    let records = [try JSONDecoder().decode(EvaluationRecord.self, from: Data(json.utf8))]
    let ranked = DisagreementCase.rank(records, methods: settings.methods, top: 5)
    XCTAssertEqual(ranked.map(\.score), [0.0625], "variance of 1/2 and 0")
    let item = GalleryItem(ranked[0], className: "<cls>", note: "moved & gone")
    let html = try HTMLReport.render(title: "<t>", sections: [ReportSection(folder: "runs/<x>", summary: EvaluationSummary(settings: settings, records: records),
                                                                            gallery: [item])])
    XCTAssertEqual(html.components(separatedBy: "<script").count - 1, 1, "the load check only")
    XCTAssertFalse(html.contains("<x>") || html.contains("<b>.png") || html.contains("<cls>") || html.contains("<t>") || html.contains("<1>"))
    for escaped in ["&lt;script&gt;", "runs/&lt;x&gt;", "a&quot;&lt;b&gt;.png", "&lt;cls&gt;", "moved &amp; gone", "m&lt;1&gt;.onnx", "d&amp;d"] {
      XCTAssertTrue(html.contains(escaped), escaped)
    }
    XCTAssertTrue(html.contains("<polyline data-method=\"&lt;script&gt;\""), "escaped in the SVG too")
  }

  /// The page in headless Chromium: after load every image decoded, no resource or script
  /// error (the page's load check marks `<body>`), nothing on the console; and a screenshot.
  /// Without chromium the test is skipped, but fails under CI (`CI=true`), where `make test`
  /// installs it.
  func testPageRendersInChromium() throws {
    guard let chromium = Self.chromium() else {
      if ProcessInfo.processInfo.environment["CI"] == "true" {
        XCTFail("chromium is not installed; `make test` installs it (TEST_APT_PACKAGES), or apt-get install -y chromium")
        return
      }
      throw XCTSkip("chromium is not installed (apt-get install -y chromium); the browser test is skipped")
    }
    let profile = Self.directory + "/chromium-profile"
    let url = "file://" + Self.directory + "/report/index.html"
    let flags = "--headless --disable-gpu --no-sandbox --no-first-run --user-data-dir='\(profile)' --virtual-time-budget=10000"
    let dom = try EvalFixtures.shell("timeout 120 '\(chromium)' \(flags) --enable-logging=stderr --v=0 --dump-dom '\(url)'")
    XCTAssertEqual(dom.status, 0, dom.err)
    XCTAssertTrue(dom.out.contains("<body data-loaded=\"all\" data-errors=\"0\">"), String(dom.out.prefix(2000)))
    let console = dom.err.split(separator: "\n").filter { $0.contains("CONSOLE") || $0.contains("Content Security Policy") }
    XCTAssertEqual(console, [], "console messages")

    let shot = Self.directory + "/report.png"
    let screenshot = try EvalFixtures.shell("timeout 120 '\(chromium)' \(flags) --window-size=1200,2000 --screenshot='\(shot)' '\(url)'")
    XCTAssertEqual(screenshot.status, 0, screenshot.err)
    let picture = try ImageFile.read(path: shot)
    XCTAssertEqual(picture.width, 1200)
    XCTAssertGreaterThan(Set(stride(from: 0, to: picture.pixels.count, by: 3 * 97).map { picture.pixels[$0] }).count, 8, "not a blank page")
  }

  /// `chromium` (or `chromium-browser`) on PATH.
  static func chromium() -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") {
      for name in ["chromium", "chromium-browser"] {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      }
    }
    return nil
  }
}
