import CImageCodecs
import Foundation

/// PNG and JPEG files as `RGBImage`s, and `RGBImage`s as PNG files.
///
/// The format is found from the file's first bytes, never from its extension.
///
/// - PNG: every colour type and bit depth (gray 1/2/4/8/16, gray+alpha, palette with or without
///   tRNS, RGB and RGBA 8/16, interlaced). Everything becomes 8-bit RGB the way PIL's
///   `Image.convert("RGB")` does it, which torchvision pipelines use: palettes expanded, gray
///   replicated, **alpha and tRNS transparency dropped** (not composited on a background).
///   16-bit samples keep their high byte (PIL does so for RGB, RGBA and gray+alpha; for 16-bit
///   gray PIL clips the value at 255 instead, which we do not copy). Gamma, colour profiles and
///   PNG's `eXIf` chunk are ignored.
/// - JPEG: baseline and progressive, YCbCr, RGB, grayscale, CMYK and YCCK (converted to RGB as
///   PIL does: CMYK taken as stored inverted, Photoshop's convention, with or without an Adobe
///   marker; R = (255 − K) − round(C·(255 − K)/255)). The EXIF orientation (tag 0x0112 in
///   the APP1 `Exif` segment, either byte order) is applied, as PIL's
///   `ImageOps.exif_transpose` does. A file that ends early is an error, not a picture padded
///   with grey.
///
/// Pictures larger than `maxPixels` are refused before any pixel memory is allocated.
/// Every failure is a `ModelError` naming the file.
public enum ImageFile {
  /// The largest picture decoded: 100 megapixels (300 MB of RGB).
  public static let maxPixels = 100_000_000

  public static let supportedFormats = "PNG, JPEG"

  public static func read(path: String) throws -> RGBImage {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw ModelError(file: path, "no such file")
    }
    guard !isDirectory.boolValue else { throw ModelError(file: path, "is a directory, not an image") }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ModelError(file: path, "cannot be read (permission denied?)")
    }
    return try decode(data, name: path)
  }

  /// Decodes PNG or JPEG bytes; `name` is the file name used in errors.
  public static func decode(_ data: Data, name: String) throws -> RGBImage {
    let bytes = [UInt8](data)
    switch Format(magic: bytes) {
    case .png:
      return try decoded(bytes, name: name, format: "PNG", ic_decode_png)
    case .jpeg:
      let image = try decoded(bytes, name: name, format: "JPEG", ic_decode_jpeg)
      return ExifOrientation.apply(ExifOrientation.read(jpeg: bytes), to: image)
    case .other(let kind):
      let what = kind.map { "a \($0) file" } ?? (bytes.isEmpty ? "an empty file" : "not an image file we know")
      throw ModelError(file: name, "\(what): supported image formats are \(supportedFormats) (a preprocessed tensor goes in a .npy file)")
    }
  }

  /// Encodes 8-bit RGB as a PNG.
  public static func encodePNG(_ image: RGBImage) throws -> Data {
    guard image.width > 0, image.height > 0 else {
      throw ModelError("cannot encode an empty \(image.width)×\(image.height) picture as PNG")
    }
    var message = [CChar](repeating: 0, count: 256)
    var output: UnsafeMutablePointer<UInt8>?
    var size = 0
    let code = image.pixels.withUnsafeBufferPointer { pixels in
      ic_encode_png(pixels.baseAddress, Int32(image.width), Int32(image.height), &output, &size, &message, message.count)
    }
    defer { ic_free(output) }
    guard code == Int32(IC_OK), let output else {
      throw ModelError(String(cString: message))
    }
    return Data(bytes: output, count: size)
  }

  /// Writes a PNG atomically (`writeAtomically`): on failure nothing is left at `path`.
  public static func writePNG(_ image: RGBImage, path: String) throws {
    let data: Data
    do { data = try encodePNG(image) } catch let error as ModelError {
      throw ModelError(file: path, error.message)
    }
    try writeAtomically(data, to: path)
  }

  private typealias Decoder = (UnsafePointer<UInt8>?, Int, Int, UnsafeMutablePointer<ic_image>?,
                               UnsafeMutablePointer<CChar>?, Int) -> Int32

  private static func decoded(_ bytes: [UInt8], name: String, format: String, _ decode: Decoder) throws -> RGBImage {
    var image = ic_image()
    var message = [CChar](repeating: 0, count: 512)
    let code = bytes.withUnsafeBufferPointer { decode($0.baseAddress, $0.count, maxPixels, &image, &message, message.count) }
    defer { ic_free(image.pixels) }
    guard code == Int32(IC_OK), let pixels = image.pixels else {
      let reason = String(cString: message)
      throw ModelError(file: name, reason.isEmpty ? "cannot decode this \(format) file" : reason)
    }
    let count = Int(image.width) * Int(image.height) * 3
    return RGBImage(width: Int(image.width), height: Int(image.height),
                    pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
  }

  enum Format: Equatable {
    case png, jpeg
    /// Another format, named when it is recognized.
    case other(String?)

    init(magic b: [UInt8]) {
      func starts(_ prefix: [UInt8]) -> Bool { b.count >= prefix.count && Array(b[0..<prefix.count]) == prefix }
      if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { self = .png }
      else if starts([0xFF, 0xD8, 0xFF]) { self = .jpeg }
      else if starts([0x93] + Array("NUMPY".utf8)) { self = .other(".npy tensor (give it where an input tensor is expected, not an image)") }
      else if starts(Array("GIF8".utf8)) { self = .other("GIF") }
      else if starts(Array("BM".utf8)) { self = .other("BMP") }
      else if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { self = .other("TIFF") }
      else if b.count >= 12, starts(Array("RIFF".utf8)), Array(b[8..<12]) == Array("WEBP".utf8) { self = .other("WebP") }
      else { self = .other(nil) }
    }
  }
}

/// The EXIF orientation of a JPEG (tag 0x0112) and the rotation/flip that undoes it.
enum ExifOrientation {
  /// 1...8 from the first APP1 `Exif` segment before the image data; 1 when absent or invalid.
  static func read(jpeg b: [UInt8]) -> Int {
    var i = 2
    while i + 4 <= b.count {
      guard b[i] == 0xFF else { return 1 }
      let marker = b[i + 1]
      if marker == 0xFF { i += 1; continue }                         // fill byte
      if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { i += 2; continue }
      if marker == 0xDA || marker == 0xD9 { return 1 }              // image data: no EXIF before it
      let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
      guard length >= 2, i + 2 + length <= b.count else { return 1 }
      let segment = i + 4
      if marker == 0xE1, length >= 8, Array(b[segment..<segment + 6]) == [0x45, 0x78, 0x69, 0x66, 0, 0] {
        return orientation(tiff: Array(b[(segment + 6)..<(i + 2 + length)]))
      }
      i += 2 + length
    }
    return 1
  }

  /// Tag 0x0112 of IFD0 in a TIFF structure ("II" little- or "MM" big-endian).
  static func orientation(tiff t: [UInt8]) -> Int {
    guard t.count >= 8 else { return 1 }
    let little: Bool
    switch (t[0], t[1]) {
    case (0x49, 0x49): little = true
    case (0x4D, 0x4D): little = false
    default: return 1
    }
    func u16(_ o: Int) -> Int? {
      guard o >= 0, o + 2 <= t.count else { return nil }
      return little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])
    }
    func u32(_ o: Int) -> Int? {
      guard let a = u16(o), let b = u16(o + 2) else { return nil }
      return little ? a | b << 16 : a << 16 | b
    }
    guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return 1 }
    for e in 0..<count {
      let entry = ifd + 2 + 12 * e
      guard let tag = u16(entry) else { return 1 }
      if tag == 0x0112 {
        guard u16(entry + 2) == 3, let value = u16(entry + 8), (1...8).contains(value) else { return 1 }
        return value
      }
    }
    return 1
  }

  /// The picture as it should be seen (PIL's `exif_transpose`): 2 mirror, 3 rotate 180°,
  /// 4 flip, 5 transpose, 6 rotate 90° clockwise, 7 transverse, 8 rotate 90° counter-clockwise.
  static func apply(_ orientation: Int, to image: RGBImage) -> RGBImage {
    guard (2...8).contains(orientation) else { return image }
    let w = image.width, h = image.height
    let swaps = orientation >= 5
    let ow = swaps ? h : w, oh = swaps ? w : h
    var out = [UInt8](repeating: 0, count: ow * oh * 3)
    image.pixels.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        for y in 0..<oh {
          for x in 0..<ow {
            let (sx, sy): (Int, Int)
            switch orientation {
            case 2: (sx, sy) = (w - 1 - x, y)
            case 3: (sx, sy) = (w - 1 - x, h - 1 - y)
            case 4: (sx, sy) = (x, h - 1 - y)
            case 5: (sx, sy) = (y, x)
            case 6: (sx, sy) = (y, h - 1 - x)
            case 7: (sx, sy) = (w - 1 - y, h - 1 - x)
            default: (sx, sy) = (w - 1 - y, x)
            }
            let s = (sy * w + sx) * 3, d = (y * ow + x) * 3
            dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
          }
        }
      }
    }
    return RGBImage(width: ow, height: oh, pixels: out)
  }
}
