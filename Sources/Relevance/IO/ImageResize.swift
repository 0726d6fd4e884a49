/// Resizing and cropping `RGBImage`s the way torchvision does on PIL images.
///
/// `resize` is PIL's `Image.resize(size, Image.BILINEAR)` (torchvision's `Resize`): separable,
/// horizontal pass then vertical pass, each output pixel a normalized triangle-filter average
/// of the input pixels around `center = (x + 0.5) · scale`, with the filter's support widened
/// to `scale` when downscaling (so a downscale averages every input pixel: antialiasing).
/// Weights are fixed-point with 22 fractional bits and each pass rounds to 8 bits, as PIL's
/// 8-bit path does; the pass order follows Pillow 13. Results equal Pillow 13's exactly and
/// older Pillow's to within one level.
public enum ImageResize {
  /// PIL's BILINEAR resampling to exactly `width` × `height`.
  public static func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
    precondition(width > 0 && height > 0 && image.width > 0 && image.height > 0, "resize needs non-empty sizes")
    if width == image.width && height == image.height { return image }
    var pixels = image.pixels
    // Pillow 13 runs the vertical pass first when the height shrinks by more than twice as
    // many pixels as the width (Pillow 12 and older: always horizontal first; the two orders
    // differ by at most one level, each pass rounding to 8 bits).
    let shrinkY = image.height - height, shrinkX = image.width - width
    if shrinkY > 0 && shrinkY > 2 * shrinkX {
      pixels = vertical(pixels, width: image.width, height: image.height, to: height)
      if width != image.width { pixels = horizontal(pixels, width: image.width, height: height, to: width) }
    } else {
      if width != image.width { pixels = horizontal(pixels, width: image.width, height: image.height, to: width) }
      if height != image.height { pixels = vertical(pixels, width: width, height: image.height, to: height) }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
  }

  /// torchvision's `Resize(size)` with an int: the shorter side becomes `size`, the longer
  /// `Int(size · long / short)` (truncated, as torchvision computes it).
  public static func resizeShorterSide(_ image: RGBImage, to size: Int) -> RGBImage {
    let (w, h) = shorterSideSize(width: image.width, height: image.height, to: size)
    return resize(image, width: w, height: h)
  }

  /// The (width, height) `resizeShorterSide` gives.
  public static func shorterSideSize(width: Int, height: Int, to size: Int) -> (width: Int, height: Int) {
    let short = min(width, height), long = max(width, height)
    let newLong = Int(Double(size) * Double(long) / Double(short))
    return width <= height ? (size, newLong) : (newLong, size)
  }

  /// torchvision's `CenterCrop`: top = round((H − h) / 2), left = round((W − w) / 2), with
  /// Python's round-half-to-even. The crop must fit inside the image.
  public static func centerCrop(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
    precondition(width > 0 && height > 0 && width <= image.width && height <= image.height,
                 "a \(width)×\(height) crop does not fit a \(image.width)×\(image.height) image")
    let top = Int((Double(image.height - height) / 2).rounded(.toNearestOrEven))
    let left = Int((Double(image.width - width) / 2).rounded(.toNearestOrEven))
    var out = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
      let s = ((top + y) * image.width + left) * 3
      out.replaceSubrange((y * width * 3)..<((y + 1) * width * 3), with: image.pixels[s..<(s + width * 3)])
    }
    return RGBImage(width: width, height: height, pixels: out)
  }

  static let precisionBits = 32 - 8 - 2

  /// Per output pixel: the first input index, the number of inputs, and `taps` fixed-point
  /// weights (PIL's precompute_coeffs + normalize_coeffs_8bpc).
  struct Coefficients {
    var first: [Int]
    var count: [Int]
    var taps: Int
    var weights: [Int32]

    init(inSize: Int, outSize: Int) {
      let scale = Double(inSize) / Double(outSize)
      let filterScale = max(scale, 1)
      let support = 1.0 * filterScale  // the triangle filter's support is 1
      taps = Int(support.rounded(.up)) * 2 + 1
      first = [Int](repeating: 0, count: outSize)
      count = [Int](repeating: 0, count: outSize)
      weights = [Int32](repeating: 0, count: outSize * taps)
      var k = [Double](repeating: 0, count: taps)
      let inverseScale = 1 / filterScale
      for x in 0..<outSize {
        let center = (Double(x) + 0.5) * scale
        let lo = max(Int(center - support + 0.5), 0)
        let n = min(Int(center + support + 0.5), inSize) - lo
        var total = 0.0
        for i in 0..<n {
          let t = abs((Double(i + lo) - center + 0.5) * inverseScale)
          k[i] = t < 1 ? 1 - t : 0
          total += k[i]
        }
        for i in 0..<n {
          let v = total != 0 ? k[i] / total : k[i]
          let fixed = v * Double(1 << ImageResize.precisionBits)
          weights[x * taps + i] = Int32(fixed < 0 ? (fixed - 0.5).rounded(.towardZero) : (fixed + 0.5).rounded(.towardZero))
        }
        first[x] = lo
        count[x] = max(n, 0)
      }
    }
  }

  @inline(__always) static func clip8(_ sum: Int32) -> UInt8 {
    let v = sum >> Int32(precisionBits)
    return v < 0 ? 0 : v > 255 ? 255 : UInt8(v)
  }

  static func horizontal(_ pixels: [UInt8], width: Int, height: Int, to outWidth: Int) -> [UInt8] {
    let c = Coefficients(inSize: width, outSize: outWidth)
    var out = [UInt8](repeating: 0, count: outWidth * height * 3)
    let half = Int32(1 << (precisionBits - 1))
    pixels.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        c.weights.withUnsafeBufferPointer { w in
          for y in 0..<height {
            let row = y * width * 3
            for x in 0..<outWidth {
              let lo = c.first[x], n = c.count[x], k = x * c.taps
              var r = half, g = half, b = half
              for i in 0..<n {
                let s = row + (lo + i) * 3, wi = w[k + i]
                r &+= Int32(src[s]) &* wi
                g &+= Int32(src[s + 1]) &* wi
                b &+= Int32(src[s + 2]) &* wi
              }
              let d = (y * outWidth + x) * 3
              dst[d] = clip8(r); dst[d + 1] = clip8(g); dst[d + 2] = clip8(b)
            }
          }
        }
      }
    }
    return out
  }

  static func vertical(_ pixels: [UInt8], width: Int, height: Int, to outHeight: Int) -> [UInt8] {
    let c = Coefficients(inSize: height, outSize: outHeight)
    let rowLength = width * 3
    var out = [UInt8](repeating: 0, count: rowLength * outHeight)
    var sums = [Int32](repeating: 0, count: rowLength)
    let half = Int32(1 << (precisionBits - 1))
    pixels.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        sums.withUnsafeMutableBufferPointer { acc in
          for y in 0..<outHeight {
            let lo = c.first[y], n = c.count[y], k = y * c.taps
            for j in 0..<rowLength { acc[j] = half }
            for i in 0..<n {   // row by row: contiguous reads
              let wi = c.weights[k + i], s = (lo + i) * rowLength
              for j in 0..<rowLength { acc[j] &+= Int32(src[s + j]) &* wi }
            }
            let d = y * rowLength
            for j in 0..<rowLength { dst[d + j] = clip8(acc[j]) }
          }
        }
      }
    }
    return out
  }
}
