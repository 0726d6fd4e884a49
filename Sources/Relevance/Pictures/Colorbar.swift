/// A horizontal strip showing a colormap from t = 0 (left) to t = 1 (right), with the values
/// the ends and the centre stand for written under it: "-m", "0", "+m" for a signed map, "0"
/// and "m" for a positive one, where m is the scale (`Heatmap.compactText`) or the word "max"
/// when the maps of a figure each have their own scale.
public struct Colorbar: Equatable, Sendable {
  public var colormap: Colormap
  public var isSigned: Bool
  /// The scale m the ends stand for; nil writes "max".
  public var maxAbs: Float?

  public init(colormap: Colormap, isSigned: Bool, maxAbs: Float? = nil) {
    self.colormap = colormap
    self.isSigned = isSigned
    self.maxAbs = maxAbs
  }

  /// The colour bar of one heatmap, labelled with its scale.
  public init(_ heatmap: Heatmap) {
    self.init(colormap: heatmap.colormap, isSigned: heatmap.isSigned, maxAbs: heatmap.maxAbs)
  }

  /// The texts under the left end, the centre (signed maps only) and the right end.
  public var labels: (left: String, centre: String?, right: String) {
    let m = maxAbs.map { Heatmap.compactText($0) } ?? "max"
    return isSigned ? ("-" + m, "0", "+" + m) : ("0", nil, m)
  }

  /// Height of a rendered colour bar: barHeight + 2·textScale + 9·textScale.
  public static func height(barHeight: Int, textScale: Int) -> Int {
    barHeight + 2 * textScale + BitmapFont.lineHeight(scale: textScale)
  }

  /// The bar, `width` × `barHeight` pixels (column x shows t = x / (width − 1)) with a grey
  /// outline, and the labels in black `2·textScale` pixels under it, on white.
  public func render(width: Int, barHeight: Int, textScale: Int = 1) -> RGBImage {
    var image = RGBImage.filled(width: width, height: Self.height(barHeight: barHeight, textScale: textScale))
    for x in 0..<width {
      let c = colormap.color(at: width > 1 ? Double(x) / Double(width - 1) : 0.5)
      image.fillRect(x: x, y: 0, width: 1, height: barHeight, color: c)
    }
    image.strokeRect(x: 0, y: 0, width: width, height: barHeight, color: (128, 128, 128))
    let y = barHeight + 2 * textScale
    let (left, centre, right) = labels
    image.draw(text: left, x: 0, y: y, scale: textScale)
    image.draw(text: right, x: width - BitmapFont.textWidth(right, scale: textScale), y: y, scale: textScale)
    if let centre {
      image.draw(text: centre, x: (width - BitmapFont.textWidth(centre, scale: textScale)) / 2, y: y, scale: textScale)
    }
    return image
  }
}
