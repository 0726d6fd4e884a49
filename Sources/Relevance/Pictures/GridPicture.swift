/// A figure like the paper's Fig. 1/3/5: a title line, the input image in a leading column,
/// then one column per target (a class, a unit; the column titles are free text) and one row
/// per method with its label at the left, each cell a picture (usually a `Heatmap`), an
/// optional caption under each cell and an optional colour bar under the grid. White
/// background, black text.
///
/// Geometry (all in pixels; `Layout` holds the numbers for one picture):
/// - source size w₀ × h₀ = the largest width and height among the cells and the leading image;
///   factor f = `upscale` ?? max(1, ⌈minCellWidth / w₀⌉); every picture is upscaled by f
///   (nearest neighbour) and the cell size is W_c × H_c = f·w₀ × f·h₀ (pictures smaller than
///   the largest sit at the cell's top-left corner);
/// - text scale s = `textScale` ?? min(max(W_c / 96, 1), 3), line height 9s; captions and
///   colour bar labels use s_c = max(s − 1, 1);
/// - m = `margin`, g = `spacing`;
/// - label column L = 0 without row labels, else min(widest row label, W_c) + g;
/// - title band T = 0 without a title, else 9s + g; column-title band K = 9s + 2s when any
///   column has a title, else 0; caption band C = 9s_c + 2s_c when any cell has a caption, else 0;
/// - columns n = (1 if a leading image) + number of target columns, rows r = the most of
///   row labels, rows of cells, and 1 if a leading image;
/// - colour bar band B = 0 without one, else g + 5s + 2s_c + 9s_c;
/// - width = 2m + L + n·W_c + (n − 1)·g, height = 2m + T + K + r·(H_c + C) + (r − 1)·g + B;
/// - the leading image comes first, then the row labels, then the cells: with lead = 1 when
///   there is a leading image (else 0) and x₀ = m + lead·(W_c + g) the left of the label column,
///   the cell of row i and target column j has its top-left corner at
///   (x₀ + L + j·(W_c + g), y₀ + i·(H_c + C + g)), where y₀ = m + T + K is the grid top;
///   the leading image is at (m, y₀).
/// Text is cut to fit with "..." (`BitmapFont.truncated`): the title to width − 2m, column
/// titles and captions to W_c (centred over / under their cell), row labels to L − g (at x = x₀,
/// centred vertically on the row's cells).
public struct GridPicture: Sendable {
  public var title: String
  /// One title per target column, e.g. "zebra 0.83" or "unit 17".
  public var columnTitles: [String] = []
  /// One label per row, e.g. "lrp", "clrp1", "clrp2".
  public var rowLabels: [String] = []
  /// Row-major pictures: cells[row][column]; nil or a missing entry leaves the cell empty.
  public var cells: [[RGBImage?]] = []
  /// Optional text under each cell, indexed like `cells`, e.g. "max|R| 3.2e-2".
  public var captions: [[String?]] = []
  /// The input image, shown in a first column on the first row.
  public var leadingImage: RGBImage?
  /// The column title over the leading image.
  public var leadingTitle: String = "input"
  /// A colour bar under the first target column.
  public var colorbar: Colorbar?
  /// The upscaling factor; nil picks the smallest that makes cells at least `minCellWidth` wide.
  public var upscale: Int?
  public var minCellWidth: Int = 160
  /// The text scale; nil picks one from the cell width.
  public var textScale: Int?
  public var margin: Int = 12
  public var spacing: Int = 8

  public init(title: String) {
    self.title = title
  }

  /// The numbers of the geometry described on `GridPicture`.
  public struct Layout: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// f: the factor every picture is upscaled by.
    public var upscale: Int
    public var cellWidth: Int
    public var cellHeight: Int
    public var textScale: Int
    public var captionScale: Int
    public var rows: Int
    /// Target columns, without the leading column.
    public var columns: Int
    public var hasLeadingColumn: Bool
    public var margin: Int
    public var spacing: Int
    /// L: width of the row-label column including its gap.
    public var labelWidth: Int
    public var titleHeight: Int
    public var columnTitleHeight: Int
    public var captionHeight: Int
    /// y₀: the top of the first row of cells.
    public var gridTop: Int
    public var colorbarBarHeight: Int

    /// Top-left corner of the cell in `row` and target column `column`.
    public func cellOrigin(row: Int, column: Int) -> (x: Int, y: Int) {
      (labelX + labelWidth + column * (cellWidth + spacing),
       gridTop + row * (cellHeight + captionHeight + spacing))
    }

    /// x₀: the left edge of the row-label column.
    public var labelX: Int { margin + (hasLeadingColumn ? cellWidth + spacing : 0) }

    /// Top-left corner of the leading image.
    public var leadingOrigin: (x: Int, y: Int) { (margin, gridTop) }

    /// Top-left corner of the colour bar (under target column 0).
    public var colorbarOrigin: (x: Int, y: Int) {
      (cellOrigin(row: 0, column: 0).x,
       gridTop + rows * (cellHeight + captionHeight) + max(rows - 1, 0) * spacing + spacing)
    }
  }

  private var anyColumnTitle: Bool {
    columnTitles.contains { !$0.isEmpty } || (leadingImage != nil && !leadingTitle.isEmpty)
  }

  private var anyCaption: Bool {
    captions.contains { row in row.contains { !($0 ?? "").isEmpty } }
  }

  /// The geometry of this picture (see the type's documentation).
  public func layout() -> Layout {
    let pictures = cells.flatMap { $0.compactMap { $0 } } + (leadingImage.map { [$0] } ?? [])
    let w0 = pictures.map(\.width).max() ?? 0
    let h0 = pictures.map(\.height).max() ?? 0
    let f: Int
    if let upscale { f = max(upscale, 1) } else if w0 > 0 { f = max(1, (minCellWidth + w0 - 1) / w0) } else { f = 1 }
    let cellWidth = w0 > 0 ? w0 * f : minCellWidth
    let cellHeight = h0 > 0 ? h0 * f : minCellWidth
    let s = max(textScale ?? min(max(cellWidth / 96, 1), 3), 1)
    let sc = max(s - 1, 1)
    let lead = leadingImage != nil
    let widestLabel = rowLabels.map { BitmapFont.textWidth($0, scale: s) }.max() ?? 0
    let labelWidth = widestLabel > 0 ? min(widestLabel, cellWidth) + spacing : 0
    let columns = max(columnTitles.count, cells.map(\.count).max() ?? 0)
    let rows = max(rowLabels.count, cells.count, lead ? 1 : 0)
    let n = columns + (lead ? 1 : 0)
    let titleHeight = title.isEmpty ? 0 : BitmapFont.lineHeight(scale: s) + spacing
    let columnTitleHeight = anyColumnTitle ? BitmapFont.lineHeight(scale: s) + 2 * s : 0
    let captionHeight = anyCaption ? BitmapFont.lineHeight(scale: sc) + 2 * sc : 0
    let barHeight = 5 * s
    let colorbarBand = colorbar == nil ? 0 : spacing + Colorbar.height(barHeight: barHeight, textScale: sc)
    let gridTop = margin + titleHeight + columnTitleHeight
    let width = 2 * margin + labelWidth + n * cellWidth + max(n - 1, 0) * spacing
    let height = gridTop + rows * (cellHeight + captionHeight) + max(rows - 1, 0) * spacing + colorbarBand + margin
    return Layout(width: width, height: height, upscale: f, cellWidth: cellWidth, cellHeight: cellHeight,
                  textScale: s, captionScale: sc, rows: rows, columns: columns, hasLeadingColumn: lead,
                  margin: margin, spacing: spacing, labelWidth: labelWidth, titleHeight: titleHeight,
                  columnTitleHeight: columnTitleHeight, captionHeight: captionHeight, gridTop: gridTop,
                  colorbarBarHeight: barHeight)
  }

  /// The picture.
  public func render() -> RGBImage {
    let l = layout()
    var image = RGBImage.filled(width: l.width, height: l.height)
    let s = l.textScale, sc = l.captionScale
    let black: (r: UInt8, g: UInt8, b: UInt8) = (0, 0, 0)
    let grey: (r: UInt8, g: UInt8, b: UInt8) = (80, 80, 80)

    func centred(_ text: String, overX x: Int, y: Int, scale: Int, color: (r: UInt8, g: UInt8, b: UInt8)) {
      let fitted = BitmapFont.truncated(text, toWidth: l.cellWidth, scale: scale)
      image.draw(text: fitted, x: x + (l.cellWidth - BitmapFont.textWidth(fitted, scale: scale)) / 2, y: y,
                 color: color, scale: scale)
    }

    if !title.isEmpty {
      image.draw(text: BitmapFont.truncated(title, toWidth: l.width - 2 * l.margin, scale: s),
                 x: l.margin, y: l.margin, color: black, scale: s)
    }
    let columnTitleY = l.gridTop - l.columnTitleHeight
    if let leadingImage {
      let o = l.leadingOrigin
      image.paste(leadingImage.upscaled(by: l.upscale), x: o.x, y: o.y)
      if !leadingTitle.isEmpty { centred(leadingTitle, overX: o.x, y: columnTitleY, scale: s, color: black) }
    }
    for (j, text) in columnTitles.enumerated() where !text.isEmpty {
      centred(text, overX: l.cellOrigin(row: 0, column: j).x, y: columnTitleY, scale: s, color: black)
    }
    for i in 0..<l.rows {
      let rowY = l.cellOrigin(row: i, column: 0).y
      if i < rowLabels.count && !rowLabels[i].isEmpty {
        let text = BitmapFont.truncated(rowLabels[i], toWidth: l.labelWidth - l.spacing, scale: s)
        image.draw(text: text, x: l.labelX, y: rowY + (l.cellHeight - BitmapFont.lineHeight(scale: s)) / 2,
                   color: black, scale: s)
      }
      for j in 0..<l.columns {
        let o = l.cellOrigin(row: i, column: j)
        if i < cells.count, j < cells[i].count, let cell = cells[i][j] {
          image.paste(cell.upscaled(by: l.upscale), x: o.x, y: o.y)
        }
        if i < captions.count, j < captions[i].count, let caption = captions[i][j], !caption.isEmpty {
          centred(caption, overX: o.x, y: o.y + l.cellHeight + sc, scale: sc, color: grey)
        }
      }
    }
    if let colorbar {
      let o = l.colorbarOrigin
      image.paste(colorbar.render(width: l.cellWidth, barHeight: l.colorbarBarHeight, textScale: sc), x: o.x, y: o.y)
    }
    return image
  }
}
