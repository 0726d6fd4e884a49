import Foundation

/// How a relevance map becomes colours.
public struct HeatmapStyle: Equatable, Sendable {
  /// How relevance values map to colormap positions t ∈ [0, 1].
  public enum Scale: String, Equatable, Sendable, CaseIterable {
    /// `signed` when the colormap is given and diverging or the map has a negative value;
    /// `positive` when the colormap is given and sequential or the map is non-negative.
    case auto
    /// t = (R / max|R| + 1) / 2: −max|R| → 0, 0 → 0.5, +max|R| → 1.
    case signed
    /// t = max(R, 0) / max R: 0 → 0, max R → 1; negative values show as 0.
    case positive
  }

  /// nil: `Colormap.bwr` for signed maps, `Colormap.hot` for non-negative ones.
  public var colormap: Colormap?
  public var scale: Scale
  /// α in out = α·heatmap + (1 − α)·grey(image) when an overlay image is given.
  public var overlayAlpha: Double
  /// Each map pixel becomes an `upscale` × `upscale` block (nearest neighbour); at least 1.
  public var upscale: Int

  public init(colormap: Colormap? = nil, scale: Scale = .auto, overlayAlpha: Double = 0.6, upscale: Int = 1) {
    self.colormap = colormap
    self.scale = scale
    self.overlayAlpha = overlayAlpha
    self.upscale = upscale
  }

  /// How `clrp explain` (and `clrp serve`'s heatmaps) draw a method's maps: with a colormap
  /// given, its kind decides the scale (`auto`); without, contrastive maps (clipped at 0) use
  /// `positive` and every other method `signed`.
  public static func explaining(_ method: ExplanationMethod, colormap: Colormap? = nil) -> HeatmapStyle {
    HeatmapStyle(colormap: colormap, scale: colormap != nil ? .auto : (method.isContrastive ? .positive : .signed))
  }
}

/// A relevance map in colour, with the scale it was drawn at.
///
/// Values that are NaN or ±∞ count as 0: they get the zero colour and do not enter the scale.
/// With m the scale (`maxAbs`) and R a pixel's channel-summed relevance:
/// - signed: t = (R/m + 1)/2 on a diverging map, so 0 is its centre colour (white for `bwr`),
///   positive relevance red and negative blue; m = max|R|.
/// - positive: t = max(R, 0)/m on a sequential map; m = max R.
/// - an all-zero map (m = 0) has t = the colormap's zero position everywhere.
/// Overlay (same size as the map): each channel = round(α·heat + (1 − α)·L), L the luminance
/// 0.299R + 0.587G + 0.114B of the image pixel, so the picture shows through the colours.
/// Upscaling comes last: every pixel becomes an `upscale` × `upscale` block.
public struct Heatmap: Sendable {
  public var image: RGBImage
  /// The scale m: max|R| for signed maps, max R for positive ones; 0 for an all-zero map.
  public var maxAbs: Float
  /// Whether the signed scale was used.
  public var isSigned: Bool
  public var colormap: Colormap

  /// The heatmap of one relevance tensor ([C, H, W], [1, C, H, W], or [H, W, C] with `.nhwc`);
  /// channels are summed first (`RelevanceMap`).
  public init(_ relevance: Tensor, layout: Preprocessing.Layout = .nchw, style: HeatmapStyle = HeatmapStyle(),
              overlay: RGBImage? = nil) throws {
    try self.init(RelevanceMap(relevance, layout: layout), style: style, overlay: overlay)
  }

  /// The heatmap of a channel-summed map. Throws a `ModelError` when the overlay's size differs
  /// from the map's, α is outside [0, 1], or the upscaling factor is below 1.
  public init(_ map: RelevanceMap, style: HeatmapStyle = HeatmapStyle(), overlay: RGBImage? = nil) throws {
    guard style.upscale >= 1 else { throw ModelError("heatmap upscaling factor must be at least 1, got \(style.upscale)") }
    guard (0...1).contains(style.overlayAlpha) else {
      throw ModelError("heatmap overlay alpha must be in [0, 1], got \(style.overlayAlpha)")
    }
    if let overlay, overlay.width != map.width || overlay.height != map.height {
      throw ModelError("overlay image is \(overlay.width)x\(overlay.height) but the relevance map is \(map.width)x\(map.height)")
    }
    let values = map.values.map { $0.isFinite ? $0 : 0 }
    let signed: Bool
    switch style.scale {
    case .signed: signed = true
    case .positive: signed = false
    case .auto: signed = style.colormap?.isDiverging ?? (values.min() ?? 0 < 0)
    }
    let colormap = style.colormap ?? (signed ? .bwr : .hot)
    let scale = signed ? values.reduce(0) { max($0, abs($1)) } : values.reduce(0) { max($0, $1) }

    var image = RGBImage.filled(width: map.width, height: map.height)
    for y in 0..<map.height {
      for x in 0..<map.width {
        let t = Self.position(values[y * map.width + x], scale: scale, signed: signed, colormap: colormap)
        var c = colormap.color(at: t)
        if let overlay {
          let l = Double(overlay.luminance(x: x, y: y)), a = style.overlayAlpha
          func blend(_ h: UInt8) -> UInt8 { UInt8((a * Double(h) + (1 - a) * l).rounded()) }
          c = (blend(c.r), blend(c.g), blend(c.b))
        }
        image[x, y] = c
      }
    }
    self.image = image.upscaled(by: style.upscale)
    self.maxAbs = scale
    self.isSigned = signed
    self.colormap = colormap
  }

  /// The colormap position of value `r` at scale `scale` (see the type's formulas).
  public static func position(_ r: Float, scale: Float, signed: Bool, colormap: Colormap) -> Double {
    guard scale > 0, r.isFinite else { return colormap.zeroPosition }
    let u = Double(r) / Double(scale)
    return signed ? (min(max(u, -1), 1) + 1) / 2 : min(max(u, 0), 1)
  }

  /// A short text for a scale or relevance value: "0", three significant digits between 0.01
  /// and 1000 ("0.0321", "12.5"), otherwise one decimal and an exponent ("3.2e-4", "1.5e6").
  public static func compactText(_ x: Float) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    if x == 0 { return "0" }
    let a = abs(Double(x))
    if a >= 0.01 && a < 1000 { return String(format: "%.3g", Double(x)) }
    var exponent = Int(floor(log10(a)))
    var mantissa = (Double(x) / pow(10, Double(exponent)) * 10).rounded() / 10
    if abs(mantissa) >= 10 { mantissa /= 10; exponent += 1 }
    return String(format: "%.1fe%d", mantissa, exponent)
  }
}
