import Foundation

/// One picture of the report's gallery: a pointing-game case explained again, the input with
/// the class's boxes drawn and one heatmap per method, each captioned with the case's recorded
/// hits. When the pictures cannot be made (model or data moved, image changed), `note` says why
/// and the pictures are empty; the recorded results are still shown.
public struct GalleryItem: Sendable {
  public struct Panel: Sendable {
    public var method: String
    public var picture: RGBImage?
    /// "energy hits 3/10 · point hit".
    public var caption: String
    /// Whether the method hit at most energies (for colouring the caption).
    public var mostlyHit: Bool
  }

  public var title: String
  public var score: Double
  public var input: RGBImage?
  public var panels: [Panel]
  public var note: String?

  /// Box outlines: green, 2 px.
  public static let boxColour: (r: UInt8, g: UInt8, b: UInt8) = (0, 190, 0)

  /// The item of `item` without pictures, with `note` saying why.
  public init(_ item: DisagreementCase, className: String?, note: String?) {
    title = "\(item.image), class \(className.map { "\($0) (\(item.class))" } ?? "\(item.class)")"
    score = item.score
    panels = item.results.map { r in
      let hits = r.hits.filter { $0 }.count
      let point = r.point.map { $0 ? " · point hit" : " · point miss" } ?? ""
      return Panel(method: r.method, picture: nil, caption: "energy hits \(hits)/\(r.hits.count)\(point)", mostlyHit: 2 * hits > r.hits.count)
    }
    self.note = note
  }
}

extension Evaluator {
  /// The gallery item of `item`, explained again with this evaluator's explainer and dataset:
  /// the preprocessed input (as the model saw it) with the class's boxes, and per method of
  /// the settings its map for the class (`center`, `random`: the baseline maps the run used),
  /// as `Heatmap`s (contrastive maps on the positive scale, others signed) with the boxes.
  /// Pictures are upscaled by ⌈minSide / input side⌉ so small inputs stay visible. Errors
  /// become the item's note.
  public func galleryItem(_ item: DisagreementCase, minSide: Int = 160) -> GalleryItem {
    let className = dataset.classes.indices.contains(item.class) ? dataset.classes[item.class] : nil
    do {
      return try galleryItemOrThrow(item, className: className, minSide: minSide)
    } catch {
      return GalleryItem(item, className: className, note: "not explained again: \(error)")
    }
  }

  func galleryItemOrThrow(_ item: DisagreementCase, className: String?, minSide: Int) throws -> GalleryItem {
    guard dataset.images.indices.contains(item.index), dataset.images[item.index].file == item.image else {
      throw ModelError(file: dataset.root, "image \(item.index) is no longer \(item.image) (the dataset changed since the run)")
    }
    let prepared = try prepare(index: item.index)
    let (input, width, height, layout) = (prepared.input, prepared.width, prepared.height, prepared.layout)
    let boxes = prepared.boxes[item.class] ?? []
    let factor = max(1, Int((Double(minSide) / Double(max(1, min(width, height)))).rounded(.up)))
    func framed(_ picture: RGBImage) -> RGBImage {
      var out = picture.upscaled(by: factor)
      for b in boxes {
        let x = Int((b.x0 * Double(factor)).rounded()), y = Int((b.y0 * Double(factor)).rounded())
        let w = Int((b.x1 * Double(factor)).rounded()) - x, h = Int((b.y1 * Double(factor)).rounded()) - y
        out.strokeRect(x: x, y: y, width: w, height: h, color: GalleryItem.boxColour)
        out.strokeRect(x: x + 1, y: y + 1, width: w - 2, height: h - 2, color: GalleryItem.boxColour)
      }
      return out
    }

    var maps: [String: (map: RelevanceMap, contrastive: Bool)] = [:]
    let explaining = item.results.compactMap { ExplanationMethod(rawValue: $0.method) }
    if !explaining.isEmpty {
      let result = try explainer.explain(input, methods: explaining, targets: .targets([.class(item.class)]))
      for m in result.maps { maps[m.method.rawValue] = (try RelevanceMap(m.relevance, layout: layout), m.method.isContrastive) }
    }
    for r in item.results {
      guard let baseline = BaselineMap(rawValue: r.method) else { continue }
      maps[r.method] = (baselineMap(baseline, index: item.index, class: item.class, width: width, height: height), true)
    }
    var gallery = GalleryItem(item, className: className, note: nil)
    gallery.input = framed((explainer.preprocessing ?? .imagenet).displayImage(from: input))
    for i in gallery.panels.indices {
      guard let (map, positive) = maps[gallery.panels[i].method] else { continue }
      let heatmap = try Heatmap(map, style: HeatmapStyle(scale: positive ? .positive : .signed))
      gallery.panels[i].picture = framed(heatmap.image)
    }
    return gallery
  }
}
