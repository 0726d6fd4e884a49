import Foundation
import XCTest
import Relevance

/// A tiny evaluation dataset for CLI tests, made as `EvalCLITests` makes its own: six small
/// fixture images in `directory/data` with clrp's annotations.json, each with two boxes (left
/// and right half) of two classes of the 10-class `vgg16_small` model.
enum EvalFixtures {
  static let model = CLITests.fixture("models/vgg16_small.onnx")

  /// Writes the dataset to `directory/data` and returns that folder.
  static func makeDataset(in directory: String) throws -> String {
    let data = directory + "/data"
    try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
    let images = ["png_rgb8.png", "png_gray8.png", "png_palette8.png", "jpeg_rgb.jpg", "png_rgb16.png", "png_graya8.png"]
    var entries: [String] = []
    for (i, name) in images.enumerated() {
      let target = data + "/" + name
      try FileManager.default.copyItem(atPath: CLITests.fixture("images/" + name), toPath: target)
      let p = try ImageFile.read(path: target)
      entries.append(#"{"file": "\#(name)", "width": \#(p.width), "height": \#(p.height), "objects": [{"class": \#(i % 10), "box": [0, 0, \#(p.width / 2 + 1), \#(p.height)]}, {"class": \#((i + 3) % 10), "box": [\#(p.width / 2), 0, \#(p.width), \#(p.height)]}]}"#)
    }
    let classes = (0..<10).map { "\"c\($0)\"" }.joined(separator: ", ")
    try "{\"classes\": [\(classes)], \"images\": [\(entries.joined(separator: ", "))]}"
      .write(toFile: data + "/annotations.json", atomically: true, encoding: .utf8)
    return data
  }

  /// The built `clrp` binary (next to the test bundle, as `runCLRP` finds it).
  static func binary() throws -> String {
    let bundle = Bundle(for: CLITests.self).bundleURL
    return try XCTUnwrap([bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("clrp").path }
      .first { FileManager.default.isExecutableFile(atPath: $0) }, "clrp binary not found next to \(bundle.path)")
  }

  /// Runs `command` through `/bin/sh -c` in the repository root with `environment` added to
  /// this process's; returns exit status, stdout and stderr.
  static func shell(_ command: String, environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.currentDirectoryURL = CLITests.fixtures.deletingLastPathComponent().deletingLastPathComponent()
    // stderr goes to a file, so a chatty process cannot block on a full pipe.
    let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-stderr-\(UUID())").path
    XCTAssertTrue(FileManager.default.createFile(atPath: errPath, contents: nil), "cannot create \(errPath)")
    defer { try? FileManager.default.removeItem(atPath: errPath) }
    let out = Pipe(), err = try XCTUnwrap(FileHandle(forWritingAtPath: errPath))
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try err.close()
    let errData = FileManager.default.contents(atPath: errPath) ?? Data()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
  }
}
