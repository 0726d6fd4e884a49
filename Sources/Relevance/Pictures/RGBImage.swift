/// An 8-bit RGB picture: rows top to bottom, each row's pixels left to right, channels
/// interleaved R, G, B. Decoded images and rendered heatmaps share this form.
public struct RGBImage: Equatable, Sendable {
  public var width: Int
  public var height: Int
  /// height · width · 3 bytes.
  public var pixels: [UInt8]

  public init(width: Int, height: Int, pixels: [UInt8]) {
    precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                 "an RGB image of \(width)x\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
    self.width = width
    self.height = height
    self.pixels = pixels
  }

  /// A picture filled with one colour.
  public init(width: Int, height: Int, fill: (r: UInt8, g: UInt8, b: UInt8) = (255, 255, 255)) {
    var pixels = [UInt8](repeating: fill.r, count: width * height * 3)
    if fill.g != fill.r || fill.b != fill.r {
      for i in stride(from: 0, to: pixels.count, by: 3) { pixels[i + 1] = fill.g; pixels[i + 2] = fill.b }
    }
    self.init(width: width, height: height, pixels: pixels)
  }

  /// The colour at column `x`, row `y`.
  public subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
    get {
      let i = (y * width + x) * 3
      return (pixels[i], pixels[i + 1], pixels[i + 2])
    }
    set {
      let i = (y * width + x) * 3
      pixels[i] = newValue.r
      pixels[i + 1] = newValue.g
      pixels[i + 2] = newValue.b
    }
  }
}
