/// An H×W map of relevance per pixel: the input relevance summed over colour channels,
/// R(y, x) = Σ_c R(c, y, x), which is what a heatmap shows.
public struct RelevanceMap: Equatable, Sendable {
  public var width: Int
  public var height: Int
  /// height · width values, rows top to bottom.
  public var values: [Float]

  public init(width: Int, height: Int, values: [Float]) {
    precondition(width >= 0 && height >= 0 && values.count == width * height,
                 "a relevance map of \(width)x\(height) needs \(width * height) values, got \(values.count)")
    self.width = width
    self.height = height
    self.values = values
  }

  public subscript(x: Int, y: Int) -> Float {
    get { values[y * width + x] }
    set { values[y * width + x] = newValue }
  }

  /// The channel sum of one relevance tensor: [C, H, W] or [1, C, H, W] for NCHW,
  /// [H, W, C] or [1, H, W, C] for NHWC, or an already summed [H, W].
  /// Throws a `ModelError` for other shapes and for a batch of more than one (use `maps`).
  public init(_ relevance: Tensor, layout: Preprocessing.Layout = .nchw) throws {
    let maps = try Self.maps(relevance, layout: layout)
    guard maps.count == 1 else {
      throw ModelError("a heatmap shows one relevance map, got a batch of \(maps.count) (shape \(relevance.shape))")
    }
    self = maps[0]
  }

  /// One map per batch entry of a relevance tensor [N, C, H, W] (NCHW) or [N, H, W, C] (NHWC);
  /// [C, H, W], [H, W, C] and [H, W] are a batch of one.
  public static func maps(_ relevance: Tensor, layout: Preprocessing.Layout = .nchw) throws -> [RelevanceMap] {
    let s = relevance.shape
    let n: Int, c: Int, h: Int, w: Int
    switch (s.count, layout) {
    case (2, _): (n, c, h, w) = (1, 1, s[0], s[1])
    case (3, .nchw): (n, c, h, w) = (1, s[0], s[1], s[2])
    case (3, .nhwc): (n, h, w, c) = (1, s[0], s[1], s[2])
    case (4, .nchw): (n, c, h, w) = (s[0], s[1], s[2], s[3])
    case (4, .nhwc): (n, h, w, c) = (s[0], s[1], s[2], s[3])
    default:
      throw ModelError("a relevance map must have shape [C, H, W] or [N, C, H, W] (\(layout.rawValue)), got \(s)")
    }
    let d = relevance.data
    return (0..<n).map { b in
      var values = [Float](repeating: 0, count: h * w)
      let base = b * c * h * w
      switch layout {
      case .nchw:
        for ch in 0..<c {
          let plane = base + ch * h * w
          for i in 0..<(h * w) { values[i] += d[plane + i] }
        }
      case .nhwc:
        for i in 0..<(h * w) {
          var sum: Float = 0
          for ch in 0..<c { sum += d[base + i * c + ch] }
          values[i] = sum
        }
      }
      return RelevanceMap(width: w, height: h, values: values)
    }
  }
}
