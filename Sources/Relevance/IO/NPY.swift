import Foundation

/// NumPy `.npy` files (format versions 1 to 3): float32/float64/integer arrays in C or
/// Fortran order read as float32 tensors (in C order); tensors written as little-endian
/// float32, version 1.0.
public enum NPY {
  public static func read(path: String) throws -> Tensor {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ModelError(file: path, "no such file or not readable")
    }
    return try decode(data, name: path)
  }

  public static func decode(_ data: Data, name: String) throws -> Tensor {
    let bytes = [UInt8](data)
    func fail(_ message: String) -> ModelError { ModelError(file: name, "not a usable .npy file: \(message)") }
    guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else { throw fail("bad magic") }
    let major = bytes[6]
    let headerLength: Int, headerStart: Int
    if major == 1 {
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
      headerStart = 10
    } else {
      guard bytes.count >= 12 else { throw fail("truncated header") }
      headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
      headerStart = 12
    }
    guard headerStart + headerLength <= bytes.count else { throw fail("truncated header") }
    let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
    let dictionary: [String: HeaderValue]
    do { dictionary = try parseHeader(header) } catch let error as HeaderError { throw fail("bad header: \(error.message)") }
    guard case .string(let descr)? = dictionary["descr"] else { throw fail("no 'descr' in header") }
    let fortranOrder: Bool
    switch dictionary["fortran_order"] {
    case nil: fortranOrder = false
    case .bool(let b)?: fortranOrder = b
    default: throw fail("'fortran_order' must be True or False")
    }
    guard case .tuple(let shape)? = dictionary["shape"] else { throw fail("no 'shape' in header") }
    guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("bad shape") }
    let (count, overflow) = shape.reduce((1, false)) { acc, d in
      let (p, o) = acc.0.multipliedReportingOverflow(by: d)
      return (p, acc.1 || o)
    }
    guard !overflow, count <= Int.max / 8 else { throw fail("implausible shape \(shape)") }
    let body = headerStart + headerLength
    let (size, convert): (Int, (UnsafeRawBufferPointer, Int) -> Float) = try {
      switch descr {
      case "<f4", "=f4", "f4": return (4, { $0.loadUnaligned(fromByteOffset: $1 * 4, as: Float.self) })
      case "<f8", "=f8", "f8": return (8, { Float($0.loadUnaligned(fromByteOffset: $1 * 8, as: Double.self)) })
      case "<i8", "=i8": return (8, { Float($0.loadUnaligned(fromByteOffset: $1 * 8, as: Int64.self)) })
      case "<i4", "=i4": return (4, { Float($0.loadUnaligned(fromByteOffset: $1 * 4, as: Int32.self)) })
      case "|u1", "u1": return (1, { Float($0.load(fromByteOffset: $1, as: UInt8.self)) })
      default: throw fail("dtype '\(descr)' is not supported (float32, float64, int32, int64, uint8 are)")
      }
    }()
    guard bytes.count - body >= count * size else {
      throw fail("shape \(shape) needs \(count * size) bytes of data, the file has \(bytes.count - body)")
    }
    let values = bytes[body...].withUnsafeBytes { raw in (0..<count).map { convert(raw, $0) } }
    guard fortranOrder, shape.count > 1 else { return Tensor(shape: shape, data: values) }
    // Fortran order: the first axis varies fastest; gather into C order.
    var columnStrides = [Int](repeating: 1, count: shape.count)
    for axis in 1..<shape.count { columnStrides[axis] = columnStrides[axis - 1] * shape[axis - 1] }
    let picks = mapIndices(shape) { index in zip(index, columnStrides).reduce(0) { $0 + $1.0 * $1.1 } }
    return Tensor(shape: shape, data: picks.map { values[$0] })
  }

  public static func encode(_ tensor: Tensor) -> Data {
    var data = header(descr: "<f4", shape: tensor.shape)
    tensor.data.withUnsafeBufferPointer { data.append(Data(buffer: $0)) }
    return data
  }

  /// A uint8 array (`|u1`) of `shape` holding `bytes` in C order, e.g. an RGB picture as [H, W, 3].
  public static func encode(bytes: [UInt8], shape: [Int]) -> Data {
    precondition(shape.reduce(1, *) == bytes.count, "shape \(shape) does not hold \(bytes.count) bytes")
    var data = header(descr: "|u1", shape: shape)
    data.append(contentsOf: bytes)
    return data
  }

  /// Magic, version 1.0, header length and the header dict padded so the data starts at a
  /// multiple of 64 bytes.
  private static func header(descr: String, shape: [Int]) -> Data {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
    let unpadded = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
    let length = UInt16(header.utf8.count)
    data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
    data.append(contentsOf: Array(header.utf8))
    return data
  }

  /// Writes atomically (see `writeAtomically`): a failure leaves no half-written file.
  public static func write(_ tensor: Tensor, path: String) throws {
    try writeAtomically(encode(tensor), to: path)
  }

  enum HeaderValue: Equatable {
    case string(String)
    case bool(Bool)
    case tuple([Int])
  }

  struct HeaderError: Error { let message: String }

  /// Parses the header: a Python dict literal of string keys and string, boolean or
  /// integer-tuple values, in any order, trailing comma and spaces allowed.
  static func parseHeader(_ text: String) throws -> [String: HeaderValue] {
    let chars = Array(text.unicodeScalars)
    var i = 0
    func skipSpace() { while i < chars.count, chars[i].properties.isWhitespace { i += 1 } }
    func expect(_ c: Unicode.Scalar) throws {
      skipSpace()
      guard i < chars.count, chars[i] == c else { throw HeaderError(message: "expected '\(c)' at offset \(i)") }
      i += 1
    }
    func peek() -> Unicode.Scalar? { skipSpace(); return i < chars.count ? chars[i] : nil }
    func string() throws -> String {
      skipSpace()
      guard i < chars.count, chars[i] == "'" || chars[i] == "\"" else { throw HeaderError(message: "expected a quoted string at offset \(i)") }
      let quote = chars[i]
      i += 1
      var result = String.UnicodeScalarView()
      while i < chars.count, chars[i] != quote { result.append(chars[i]); i += 1 }
      guard i < chars.count else { throw HeaderError(message: "unterminated string") }
      i += 1
      return String(result)
    }
    func integer() throws -> Int {
      skipSpace()
      var digits = ""
      while i < chars.count, ("0"..."9").contains(chars[i]) { digits.unicodeScalars.append(chars[i]); i += 1 }
      if i < chars.count, chars[i] == "L" { i += 1 }
      guard let n = Int(digits) else { throw HeaderError(message: "expected a dimension at offset \(i)") }
      return n
    }
    func value() throws -> HeaderValue {
      switch peek() {
      case "'", "\"": return .string(try string())
      case "(":
        i += 1
        var dims: [Int] = []
        while peek() != ")" {
          dims.append(try integer())
          if peek() == "," { i += 1 } else { break }
        }
        try expect(")")
        return .tuple(dims)
      default:
        for (word, b) in [("True", true), ("False", false)] where String(String.UnicodeScalarView(chars[i..<min(chars.count, i + word.count)])) == word {
          i += word.count
          return .bool(b)
        }
        throw HeaderError(message: "unexpected value at offset \(i)")
      }
    }
    var result: [String: HeaderValue] = [:]
    try expect("{")
    while peek() != "}" {
      guard peek() != nil else { throw HeaderError(message: "missing '}'") }
      let key = try string()
      try expect(":")
      guard result[key] == nil else { throw HeaderError(message: "repeated key '\(key)'") }
      result[key] = try value()
      if peek() == "," { i += 1 } else { break }
    }
    try expect("}")
    return result
  }
}
