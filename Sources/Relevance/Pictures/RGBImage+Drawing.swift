/// Drawing on pictures: the few operations heatmaps, text and grid pictures are made of.
/// Everything clips to the picture; nothing outside it is touched.
extension RGBImage {
  /// A picture filled with one colour (`init(width:height:fill:)` under the name the
  /// drawing code uses).
  public static func filled(width: Int, height: Int,
                            color: (r: UInt8, g: UInt8, b: UInt8) = (255, 255, 255)) -> RGBImage {
    RGBImage(width: width, height: height, fill: color)
  }

  /// The picture with each pixel repeated `factor` × `factor` times (nearest neighbour):
  /// output (x, y) = input (x / factor, y / factor), size (width·factor) × (height·factor).
  public func upscaled(by factor: Int) -> RGBImage {
    precondition(factor >= 1, "upscaling factor must be at least 1, got \(factor)")
    if factor == 1 { return self }
    var out = [UInt8](repeating: 0, count: width * factor * height * factor * 3)
    let outWidth = width * factor
    for y in 0..<height {
      var row = [UInt8](repeating: 0, count: outWidth * 3)
      for x in 0..<width {
        let i = (y * width + x) * 3
        for k in 0..<factor {
          let o = (x * factor + k) * 3
          row[o] = pixels[i]
          row[o + 1] = pixels[i + 1]
          row[o + 2] = pixels[i + 2]
        }
      }
      for k in 0..<factor {
        let start = ((y * factor + k) * outWidth) * 3
        out.replaceSubrange(start..<start + row.count, with: row)
      }
    }
    return RGBImage(width: outWidth, height: height * factor, pixels: out)
  }

  /// Luminance of the pixel at (x, y): round(0.299·R + 0.587·G + 0.114·B) (ITU-R BT.601).
  public func luminance(x: Int, y: Int) -> UInt8 {
    let p = self[x, y]
    let r = 0.299 * Double(p.r), g = 0.587 * Double(p.g), b = 0.114 * Double(p.b)
    let sum: Double = r + g + b
    return UInt8(sum.rounded())
  }

  /// The picture in grey: every channel set to `luminance(x:y:)`.
  public func grayscale() -> RGBImage {
    var out = self
    for y in 0..<height {
      for x in 0..<width {
        let l = luminance(x: x, y: y)
        out[x, y] = (l, l, l)
      }
    }
    return out
  }

  /// Whether (x, y) lies in the picture.
  public func contains(x: Int, y: Int) -> Bool {
    x >= 0 && y >= 0 && x < width && y < height
  }

  /// Fills the rectangle with top-left corner (x, y), clipped to the picture.
  public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int,
                                color: (r: UInt8, g: UInt8, b: UInt8)) {
    let x0 = max(x, 0), y0 = max(y, 0)
    let x1 = min(x + w, width), y1 = min(y + h, height)
    guard x0 < x1 && y0 < y1 else { return }
    for yy in y0..<y1 {
      for xx in x0..<x1 { self[xx, yy] = color }
    }
  }

  /// Draws the outline (1 px) of the rectangle with top-left corner (x, y), clipped.
  public mutating func strokeRect(x: Int, y: Int, width w: Int, height h: Int,
                                  color: (r: UInt8, g: UInt8, b: UInt8)) {
    guard w > 0 && h > 0 else { return }
    fillRect(x: x, y: y, width: w, height: 1, color: color)
    fillRect(x: x, y: y + h - 1, width: w, height: 1, color: color)
    fillRect(x: x, y: y, width: 1, height: h, color: color)
    fillRect(x: x + w - 1, y: y, width: 1, height: h, color: color)
  }

  /// Copies `image` so that its top-left pixel lands at (x, y), clipped to this picture.
  public mutating func paste(_ image: RGBImage, x: Int, y: Int) {
    let x0 = max(x, 0), x1 = min(x + image.width, width)
    guard x0 < x1 else { return }
    for sy in 0..<image.height {
      let ty = y + sy
      guard ty >= 0 && ty < height else { continue }
      let src = (sy * image.width + (x0 - x)) * 3
      let dst = (ty * width + x0) * 3
      let n = (x1 - x0) * 3
      pixels.replaceSubrange(dst..<dst + n, with: image.pixels[src..<src + n])
    }
  }
}
