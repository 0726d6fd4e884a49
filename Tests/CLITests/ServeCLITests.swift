import Foundation
import XCTest
import Relevance

/// `clrp serve` (Docs/SERVE.md) fed a whole conversation on stdin: good requests answered as
/// the command line answers them, bad ones refused without stopping the server, and the end of
/// the input inside a request ending it with status 1 and nothing half-written.
final class ServeCLITests: XCTestCase {
  static let model = CLITests.fixture("models/shapes-vgg.onnx")
  static let image = CLITests.fixture("shapes/example.png")

  /// A request frame: length line, JSON, arrays.
  func frame(_ header: [String: Any], arrays: [(String, Data)] = []) throws -> Data {
    var header = header
    header["arrays"] = arrays.map { ["name": $0.0, "bytes": $0.1.count] as [String: Any] }
    let json = try JSONSerialization.data(withJSONObject: header)
    return Data("\(json.count)\n".utf8) + json + arrays.reduce(Data()) { $0 + $1.1 }
  }

  /// Splits stdout into response frames; fails on trailing bytes that are no complete frame.
  func responses(_ out: Data) throws -> [(header: [String: Any], arrays: [String: Data])] {
    var bytes = [UInt8](out)[...]
    var result: [(header: [String: Any], arrays: [String: Data])] = []
    while !bytes.isEmpty {
      let newline = try XCTUnwrap(bytes.firstIndex(of: UInt8(ascii: "\n")), "no length line")
      let length = try XCTUnwrap(Int(String(decoding: bytes[bytes.startIndex..<newline], as: UTF8.self)))
      let jsonEnd = newline + 1 + length
      XCTAssertLessThanOrEqual(jsonEnd, bytes.endIndex, "truncated header")
      let header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[(newline + 1)..<jsonEnd])) as? [String: Any])
      var position = jsonEnd
      var arrays: [String: Data] = [:]
      for entry in header["arrays"] as? [[String: Any]] ?? [] {
        let size = entry["bytes"] as! Int
        XCTAssertLessThanOrEqual(position + size, bytes.endIndex, "truncated array")
        arrays[entry["name"] as! String] = Data(bytes[position..<(position + size)])
        position += size
      }
      result.append((header, arrays))
      bytes = bytes[position...]
    }
    return result
  }

  func serve(_ arguments: [String], input: Data) throws -> (status: Int32, out: Data, err: String) {
    let bundle = Bundle(for: CLITests.self).bundleURL
    let binary = try XCTUnwrap([bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("clrp") }
      .first { FileManager.default.isExecutableFile(atPath: $0.path) })
    // stdin and stderr are files: the whole conversation is written before the server starts.
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-serve-\(UUID())").path
    defer { try? FileManager.default.removeItem(atPath: base + ".in"); try? FileManager.default.removeItem(atPath: base + ".err") }
    XCTAssertTrue(FileManager.default.createFile(atPath: base + ".in", contents: input))
    XCTAssertTrue(FileManager.default.createFile(atPath: base + ".err", contents: nil))
    let process = Process()
    process.executableURL = binary
    process.arguments = ["serve"] + arguments
    let stdout = Pipe()
    process.standardInput = try XCTUnwrap(FileHandle(forReadingAtPath: base + ".in"))
    process.standardOutput = stdout
    process.standardError = try XCTUnwrap(FileHandle(forWritingAtPath: base + ".err"))
    try process.run()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let err = FileManager.default.contents(atPath: base + ".err") ?? Data()
    return (process.terminationStatus, out, String(decoding: err, as: UTF8.self))
  }

  func testAConversationWithBadRequestsAndADisconnectMidRequest() throws {
    let mapFile = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-serve-\(UUID()).npy").path
    defer { try? FileManager.default.removeItem(atPath: mapFile) }
    let cli = try runCLRP(["explain", Self.model, Self.image, "--method", "clrp2", "--class", "4", "--output", mapFile])
    XCTAssertEqual(cli.status, 0, cli.err)

    let good = try frame(["op": "explain", "image": Self.image, "method": "clrp2", "classes": [4], "id": "e"])
    var input = try frame(["op": "version", "id": 1])
    input += Data("twelve\n".utf8)
    input += Data("7\n{broken".utf8)
    input += try frame(["op": "explain", "method": "clrp2"], arrays: [("input", Data("not npy".utf8))])
    input += try frame(["op": "explain", "image": Self.image, "method": "clrp9"])
    input += good
    let partial = try frame(["op": "classify", "image": Self.image]).prefix(12)
    input += partial
    let run = try serve([Self.model], input: input)

    XCTAssertEqual(run.status, 1, run.err)
    XCTAssertTrue(run.err.contains("error: the input ended inside a request (after \(partial.count) of its bytes)"), run.err)
    let replies = try responses(run.out)
    XCTAssertEqual(replies.map { $0.header["ok"] as? Bool }, [true, false, false, false, false, true])
    XCTAssertEqual(replies[0].header["version"] as? String, "0.1.0")
    XCTAssertEqual(replies[0].header["input_shape"] as? [Int], [1, 3, 64, 64])
    XCTAssertTrue((replies[1].header["error"] as! String).contains("decimal"))
    XCTAssertTrue((replies[2].header["error"] as! String).contains("not a JSON object"))
    XCTAssertTrue((replies[3].header["error"] as! String).contains("not a usable .npy file"))
    XCTAssertTrue((replies[4].header["error"] as! String).contains("clrp9"))
    XCTAssertEqual(replies[5].header["id"] as? String, "e")
    // The map equals the command line's, byte for byte, with a batch axis of 1 and one target.
    let map = try NPY.decode(XCTUnwrap(replies[5].arrays["maps"]), name: "maps")
    let expected = try NPY.read(path: mapFile)
    XCTAssertEqual(map.shape, [1, 1] + expected.shape)
    XCTAssertEqual(map.data, expected.data)
  }

  func testTheEndOfInputBetweenRequestsIsAClean0() throws {
    let relevance = Tensor(shape: [1, 2, 2], data: [0, 1, 2, 4])
    let run = try serve([], input: try frame(["op": "heatmap", "method": "clrp2"], arrays: [("relevance", NPY.encode(relevance))]))
    XCTAssertEqual(run.status, 0, run.err)
    let replies = try responses(run.out)
    XCTAssertEqual(replies.count, 1)
    let picture = try XCTUnwrap(replies[0].arrays["heatmap"])
    // The uint8 .npy the server wrote, decoded by the library: the hot colormap's ends at 0 and max.
    let pixels = try NPY.decode(picture, name: "heatmap")
    XCTAssertEqual(pixels.shape, [2, 2, 3])
    XCTAssertEqual(Array(pixels.data[0..<3]), [0, 0, 0])
    XCTAssertEqual(Array(pixels.data[9..<12]), [255, 255, 255])
  }
}
