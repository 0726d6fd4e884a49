import Foundation
import XCTest
@testable import Relevance

/// Paths of the committed test fixtures (`Tests/Fixtures`).
enum Fixtures {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures")

  static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

  /// Every `.onnx` file under `Fixtures/models`, by model name (file name without extension).
  static func models() -> [String: String] {
    var result: [String: String] = [:]
    let enumerator = FileManager.default.enumerator(atPath: path("models"))
    while let file = enumerator?.nextObject() as? String {
      guard file.hasSuffix(".onnx") else { continue }
      result[URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent] = path("models/" + file)
    }
    return result
  }
}

/// Largest absolute difference over the largest absolute reference value.
func relativeError(_ actual: [Float], _ expected: [Float]) -> Float {
  precondition(actual.count == expected.count)
  let scale = expected.map(abs).max() ?? 0
  let diff = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
  return scale > 0 ? diff / scale : diff
}

extension XCTestCase {
  /// The error `body` throws, as text; fails when it does not throw a ModelError.
  func message(_ body: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> String {
    do {
      _ = try body()
      XCTFail("no error", file: file, line: line)
    } catch let error as ModelError {
      return error.description
    } catch {
      XCTFail("not a ModelError: \(error)", file: file, line: line)
    }
    return ""
  }

  func assertContains(_ text: String, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
    for part in parts where !text.contains(part) {
      XCTFail("'\(text)' lacks '\(part)'", file: file, line: line)
    }
  }
}
