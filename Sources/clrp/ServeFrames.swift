import Foundation
import Relevance

#if canImport(Glibc)
import Glibc
#endif

/// One message of the `clrp serve` protocol (Docs/SERVE.md): a JSON object and the arrays
/// that follow it, each the complete bytes of a `.npy` file.
///
/// On the wire: the JSON's length in bytes as ASCII decimal digits, a newline, the UTF-8 JSON,
/// then the arrays' bytes back to back, in the order and with the sizes its `"arrays"` list
/// gives (`[{"name": "input", "bytes": 49280}]`).
struct ServeMessage {
  var header: [String: Any]
  var arrays: [(name: String, data: Data)]

  init(_ header: [String: Any], arrays: [(name: String, data: Data)] = []) {
    self.header = header
    self.arrays = arrays
  }

  /// The array named `name`, if the message carries one.
  func array(_ name: String) -> Data? { arrays.first { $0.name == name }?.data }

  /// The message's bytes: length line, JSON (with its `"arrays"` list), arrays.
  func encoded() throws -> Data {
    var header = self.header
    header["arrays"] = arrays.map { ["name": $0.name, "bytes": $0.data.count] as [String: Any] }
    let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    var data = Data("\(json.count)\n".utf8)
    data.append(json)
    for array in arrays { data.append(array.data) }
    return data
  }
}

/// Why a request could not be read.
enum FrameError: Error {
  /// The input ended inside a message (after `received` of its bytes): the client is gone.
  case disconnected(received: Int)
  /// A message that breaks the protocol but left the stream at the start of the next one; the
  /// server answers it with an error and carries on. `id` echoes the request's id if it was read.
  case malformed(String, id: Any?)
}

/// Reads messages from a file descriptor (the server's stdin), buffered.
final class FrameReader {
  /// Largest JSON header accepted; a longer one is skipped and refused.
  static let maximumHeaderBytes = 1 << 24
  /// Digits a length line may have before its newline.
  static let maximumLengthDigits = 19

  private let descriptor: Int32
  private var buffer: [UInt8] = []
  private var position = 0
  /// Bytes of the current message consumed so far (for the disconnect report).
  private var received = 0

  init(descriptor: Int32) { self.descriptor = descriptor }

  /// The next message; nil when the input ends between messages.
  func next() throws -> ServeMessage? {
    received = 0
    guard let line = try lengthLine() else { return nil }
    guard let length = Int(line), length >= 0, !line.isEmpty, line.allSatisfy(\.isASCII) else {
      throw FrameError.malformed("a message starts with its JSON header's length in bytes as decimal digits and a newline; got '\(line.prefix(40))'", id: nil)
    }
    guard length <= Self.maximumHeaderBytes else {
      try skip(length)
      throw FrameError.malformed("the JSON header has \(length) bytes; at most \(Self.maximumHeaderBytes) are accepted", id: nil)
    }
    let json = try bytes(length)
    guard let object = try? JSONSerialization.jsonObject(with: json), let header = object as? [String: Any] else {
      throw FrameError.malformed("the header is not a JSON object (\(length) bytes: '\(String(decoding: json.prefix(60), as: UTF8.self))')", id: nil)
    }
    let id = header["id"]
    var sizes: [(String, Int)] = []
    if let list = header["arrays"] {
      guard let entries = list as? [[String: Any]] else {
        throw FrameError.malformed("'arrays' must be a list of {\"name\": ..., \"bytes\": ...} objects", id: id)
      }
      for (i, entry) in entries.enumerated() {
        guard let name = entry["name"] as? String, let size = (entry["bytes"] as? NSNumber)?.intValue, size >= 0 else {
          throw FrameError.malformed("'arrays'[\(i)] needs a string 'name' and a byte count 'bytes' >= 0", id: id)
        }
        sizes.append((name, size))
      }
    }
    var arrays: [(name: String, data: Data)] = []
    var refused: String?
    for (name, size) in sizes {
      if refused != nil || size > MemoryBudget.current.bytes {
        refused = refused ?? "array '\(name)' has \(size) bytes, above the memory budget of \(MemoryBudget.current.bytes) (--max-memory)"
        try skip(size)
      } else {
        arrays.append((name, try bytes(size)))
      }
    }
    if let refused { throw FrameError.malformed(refused, id: id) }
    return ServeMessage(header, arrays: arrays)
  }

  /// The digits before the next newline; nil at a clean end of input. A line without a newline
  /// in its first bytes is consumed up to its newline and refused.
  private func lengthLine() throws -> String? {
    var line: [UInt8] = []
    while true {
      guard let byte = try byte(atStart: line.isEmpty) else { return nil }
      if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
      if line.count < Self.maximumLengthDigits + 1 { line.append(byte) }
    }
  }

  /// One byte; nil at end of input when `atStart` (between messages), else a disconnect.
  private func byte(atStart: Bool) throws -> UInt8? {
    if position == buffer.count {
      guard try fill() else {
        if atStart { return nil }
        throw FrameError.disconnected(received: received)
      }
    }
    defer { position += 1; received += 1 }
    return buffer[position]
  }

  private func bytes(_ count: Int) throws -> Data {
    var data = Data(capacity: count)
    while data.count < count {
      if position == buffer.count {
        guard try fill() else { throw FrameError.disconnected(received: received) }
      }
      let take = min(count - data.count, buffer.count - position)
      data.append(contentsOf: buffer[position..<(position + take)])
      position += take
      received += take
    }
    return data
  }

  private func skip(_ count: Int) throws {
    var left = count
    while left > 0 {
      if position == buffer.count {
        guard try fill() else { throw FrameError.disconnected(received: received) }
      }
      let take = min(left, buffer.count - position)
      position += take
      received += take
      left -= take
    }
  }

  /// Reads what is available into the buffer; false at end of input (or a read error).
  private func fill() throws -> Bool {
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
      if n > 0 {
        buffer = Array(chunk[0..<n])
        position = 0
        return true
      }
      if n < 0 && errno == EINTR { continue }
      return false
    }
  }
}

/// Writes whole messages to a file descriptor (the server's stdout).
struct FrameWriter {
  let descriptor: Int32

  /// Writes every byte of `message`; false when the reader is gone (EPIPE or another error).
  func write(_ message: ServeMessage) throws -> Bool {
    let data = try message.encoded()
    return data.withUnsafeBytes { raw in
      var offset = 0
      while offset < raw.count {
        let n = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
        if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return false }
      }
      return true
    }
  }
}
