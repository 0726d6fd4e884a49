import Foundation

/// NumPy `.npy` files (format versions 1 to 3): float32/float64/integer arrays in C order
/// read as float32 tensors; tensors written as little-endian float32, version 1.0.
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
    guard let descr = field("descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\" ")) else {
      throw fail("no 'descr' in header")
    }
    if field("fortran_order", in: header)?.trimmingCharacters(in: .whitespaces) == "True" {
      throw fail("Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
    }
    guard let shapeText = header.range(of: "'shape':").map({ header[$0.upperBound...] }),
          let open = shapeText.firstIndex(of: "("), let close = shapeText.firstIndex(of: ")") else {
      throw fail("no 'shape' in header")
    }
    let shape = try shapeText[shapeText.index(after: open)..<close].split(separator: ",").map { part -> Int in
      guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n >= 0 else { throw fail("bad shape") }
      return n
    }
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
    return Tensor(shape: shape, data: values)
  }

  public static func encode(_ tensor: Tensor) -> Data {
    let shapeText = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
    let unpadded = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
    let length = UInt16(header.utf8.count)
    data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
    data.append(contentsOf: Array(header.utf8))
    tensor.data.withUnsafeBufferPointer { data.append(Data(buffer: $0)) }
    return data
  }

  /// Writes atomically (see `writeAtomically`): a failure leaves no half-written file.
  public static func write(_ tensor: Tensor, path: String) throws {
    try writeAtomically(encode(tensor), to: path)
  }

  private static func field(_ key: String, in header: String) -> String? {
    guard let range = header.range(of: "'\(key)':") else { return nil }
    let rest = header[range.upperBound...]
    let end = rest.firstIndex(of: ",") ?? rest.endIndex
    return String(rest[..<end])
  }
}
