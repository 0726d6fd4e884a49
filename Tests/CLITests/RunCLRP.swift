import Foundation
import XCTest

/// Runs the built `clrp` with `arguments` from the repository root; returns exit status,
/// stdout and stderr.
func runCLRP(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
  // The test bundle sits in the build products folder (or is that folder, on Linux).
  let bundle = Bundle(for: CLITests.self).bundleURL
  let binary = try XCTUnwrap([bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("clrp") }
    .first { FileManager.default.isExecutableFile(atPath: $0.path) }, "clrp binary not found next to \(bundle.path)")
  let process = Process()
  process.executableURL = binary
  process.arguments = arguments
  process.currentDirectoryURL = CLITests.fixtures.deletingLastPathComponent().deletingLastPathComponent()
  let out = Pipe(), err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  let errData = err.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}
