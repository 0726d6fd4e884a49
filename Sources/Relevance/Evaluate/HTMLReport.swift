import Foundation

/// Small HTML building blocks: escaping, data-URI images, the page shell.
public enum HTML {
  /// `text` safe inside element content and double-quoted attributes: & < > " ' escaped.
  public static func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.count)
    for c in text {
      switch c {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default: out.append(c)
      }
    }
    return out
  }

  /// An `<img>` whose source is the PNG of `picture` as a `data:image/png;base64,` URI.
  public static func image(_ picture: RGBImage, alt: String) throws -> String {
    let png = try ImageFile.encodePNG(picture)
    return "<img src=\"data:image/png;base64,\(png.base64EncodedString())\" width=\"\(picture.width)\" height=\"\(picture.height)\" alt=\"\(escape(alt))\">"
  }

  /// A whole page: UTF-8, a content security policy that allows nothing but inline styles,
  /// inline scripts and `data:` images (so a stray external reference fails loudly), the
  /// report's style sheet, and one tiny script that marks `<body>` once the page has loaded:
  /// `data-loaded="all"` when every image decoded (`complete` and `naturalWidth > 0`), else
  /// `data-loaded="broken"`; `data-errors` counts resource and script errors.
  public static func page(title: String, body: String) -> String {
    """
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>\(escape(title))</title>
    <style>\(styleSheet)</style>
    <script>\(loadCheck)</script>
    </head>
    <body>
    \(body)
    </body>
    </html>

    """
  }

  static let loadCheck = """
    var errors=0;addEventListener('error',function(){errors++},true);\
    addEventListener('load',function(){var ok=Array.prototype.every.call(document.images,function(i){return i.complete&&i.naturalWidth>0});\
    document.body.setAttribute('data-loaded',ok?'all':'broken');document.body.setAttribute('data-errors',String(errors))})
    """

  static let styleSheet = """
    body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#222}\
    h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc;padding-bottom:4px}h3{margin-top:1.4em}\
    table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}\
    th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}\
    table.settings td{text-align:left}code{font-size:.95em}.note{color:#8a5a00}\
    .case{border:1px solid #ddd;border-radius:6px;padding:8px;margin:12px 0}\
    .case .pictures{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0;text-align:center}\
    figcaption{font-size:.85em;max-width:200px}.hit{color:#17702a}.miss{color:#b3261e}
    """
}

/// One run of the report: its folder, settings and summary (from `<kind>.summary.json`), and
/// for the pointing game the gallery of the cases where methods disagree most.
public struct ReportSection: Sendable {
  public var folder: String
  public var summary: EvaluationSummary
  public var gallery: [GalleryItem]
  /// Why the gallery has no pictures (model or data unreachable), shown above it.
  public var galleryNote: String?

  public init(folder: String, summary: EvaluationSummary, gallery: [GalleryItem] = [], galleryNote: String? = nil) {
    self.folder = folder
    self.summary = summary
    self.gallery = gallery
    self.galleryNote = galleryNote
  }
}

/// The report of `clrp eval report`: one self-contained HTML page (no network, scripts only the
/// load check of `HTML.page`, images as data URIs, plots as inline SVG) with a section per run:
/// - pointing: accuracy against energy per method as a line plot (the paper's Fig. 4), a table
///   of the accuracies and the classic pointing game, and the disagreement gallery;
/// - ablation: a table of the mean logit drop per method and a bar chart (the paper's Table 1);
/// - every run: its settings and counts.
/// Table cells carry the exact summary value in `data-value` (Swift's shortest round-trip
/// text) and show it rounded (accuracy 3 decimals, drop 4).
public enum HTMLReport {
  public static func render(title: String, sections: [ReportSection]) throws -> String {
    var body = "<h1>\(HTML.escape(title))</h1>\n"
    body += "<p>\(sections.count) run\(sections.count == 1 ? "" : "s"): "
      + sections.enumerated().map { "<a href=\"#run-\($0.offset + 1)\">\(HTML.escape(heading($0.element)))</a>" }.joined(separator: ", ") + "</p>\n"
    for (i, section) in sections.enumerated() {
      body += "<section id=\"run-\(i + 1)\" class=\"run \(HTML.escape(section.summary.settings.kind))\">\n"
      body += "<h2>\(HTML.escape(heading(section)))</h2>\n"
      if section.summary.settings.patch != nil {
        body += ablation(section.summary)
      } else {
        body += pointing(section.summary)
        body += gallery(section)
      }
      body += "<h3>Settings</h3>\n" + settings(section)
      body += "</section>\n"
    }
    return HTML.page(title: title, body: body)
  }

  static func heading(_ section: ReportSection) -> String {
    "\(section.summary.settings.kind): \(section.folder)"
  }

  static func cell(_ value: Double, format: String) -> String {
    "<td data-value=\"\(value)\">\(String(format: format, value))</td>"
  }

  static func pointing(_ summary: EvaluationSummary) -> String {
    let energies = summary.settings.energies ?? []
    let methods = summary.settings.methods.filter { summary.methods[$0] != nil }
    let series = methods.map { name in
      SVGChart.Series(name: name, points: Array(zip(energies, summary.methods[name]!.accuracy ?? [])).map { (x: $0.0, y: $0.1) })
    }
    let low = min(0.1, energies.min() ?? 0.1)
    var html = "<h3>Pointing accuracy against energy</h3>\n"
    html += SVGChart.linePlot(series: series, xRange: (low - 0.05)...1.05, yRange: 0...1,
                              xTicks: stride(from: 0.1, through: 1.0001, by: 0.1).map { ($0 * 10).rounded() / 10 },
                              yTicks: stride(from: 0.0, through: 1.0001, by: 0.2).map { ($0 * 10).rounded() / 10 },
                              xLabel: "energy fraction", yLabel: "pointing accuracy", cssClass: "plot pointing") + "\n"
    html += "<table class=\"results pointing\"><tr><th>method</th>"
      + energies.map { "<th>\(HTML.escape(String(format: "%g", $0)))</th>" }.joined() + "<th>point</th><th>cases</th></tr>\n"
    for name in methods {
      let m = summary.methods[name]!
      html += "<tr data-method=\"\(HTML.escape(name))\"><td>\(HTML.escape(name))</td>"
        + (m.accuracy ?? []).map { cell($0, format: "%.3f") }.joined()
        + cell(m.pointAccuracy ?? 0, format: "%.3f") + "<td>\(m.cases)</td></tr>\n"
    }
    html += "</table>\n<p>Accuracy: the share of (image, class) cases whose map keeps the given fraction of its positive energy inside the class's boxes; point: the classic game (the maximum within \(HTML.escape(String(format: "%g", summary.settings.tolerance ?? 0))) pixels of a box).</p>\n"
    return html
  }

  static func ablation(_ summary: EvaluationSummary) -> String {
    let methods = summary.settings.methods.filter { summary.methods[$0] != nil }
    var html = "<h3>Mean logit drop</h3>\n<table class=\"results ablation\"><tr><th>method</th><th>mean drop</th><th>cases</th></tr>\n"
    for name in methods {
      let m = summary.methods[name]!
      html += "<tr data-method=\"\(HTML.escape(name))\"><td>\(HTML.escape(name))</td>" + cell(m.meanDrop ?? 0, format: "%.4f") + "<td>\(m.cases)</td></tr>\n"
    }
    html += "</table>\n"
    html += SVGChart.barChart(bars: methods.map { ($0, summary.methods[$0]!.meanDrop ?? 0) }, yLabel: "mean logit drop",
                              cssClass: "plot ablation") + "\n"
    html += "<p>The drop of the class logit when a \(summary.settings.patch ?? 0)×\(summary.settings.patch ?? 0) patch at the map's maximum is replaced by the dataset's mean input; larger means the method found what the class depends on.</p>\n"
    return html
  }

  static func gallery(_ section: ReportSection) -> String {
    var html = "<h3>Where the methods disagree most</h3>\n"
    if let note = section.galleryNote { html += "<p class=\"note\">\(HTML.escape(note))</p>\n" }
    if section.gallery.isEmpty {
      return html + "<p>No cases to show.</p>\n"
    }
    html += "<p>Cases ranked by the variance over methods of the share of energies that hit. Green boxes: the class's annotations.</p>\n"
    for item in section.gallery {
      html += "<div class=\"case\"><h4>\(HTML.escape(item.title)) <small>(disagreement \(HTML.escape(String(format: "%.3f", item.score))))</small></h4>\n"
      if let note = item.note { html += "<p class=\"note\">\(HTML.escape(note))</p>\n" }
      html += "<div class=\"pictures\">"
      if let input = item.input, let img = try? HTML.image(input, alt: "input \(item.title)") {
        html += "<figure>\(img)<figcaption>input</figcaption></figure>"
      }
      for panel in item.panels {
        let img = panel.picture.flatMap { try? HTML.image($0, alt: "\(panel.method) \(item.title)") } ?? ""
        html += "<figure data-method=\"\(HTML.escape(panel.method))\">\(img)<figcaption><b>\(HTML.escape(panel.method))</b><br>"
          + "<span class=\"\(panel.mostlyHit ? "hit" : "miss")\">\(HTML.escape(panel.caption))</span></figcaption></figure>"
      }
      html += "</div></div>\n"
    }
    return html
  }

  static func settings(_ section: ReportSection) -> String {
    let s = section.summary.settings, summary = section.summary
    var rows: [(String, String)] = [("folder", section.folder), ("model", s.model), ("dataset", s.dataset),
                                    ("methods", s.methods.joined(separator: ", ")), ("rules", s.rules ?? "each method's own"),
                                    ("preprocessing", s.preprocess), ("CLRP1 dual", s.dual), ("normalize", s.normalize)]
    if let e = s.energies { rows.append(("energies", e.map { String(format: "%g", $0) }.joined(separator: ", "))) }
    if let t = s.tolerance { rows.append(("tolerance", String(format: "%g px", t))) }
    if let p = s.patch { rows.append(("patch", "\(p)×\(p) px")) }
    if let shard = s.shard { rows.append(("shard", shard)) }
    rows += [("images evaluated", "\(summary.images)"), ("images failed", "\(summary.failed)"),
             ("images without annotations", "\(summary.skippedAtLoad)")]
    return "<table class=\"settings\">" + rows.map { "<tr><th>\(HTML.escape($0.0))</th><td>\(HTML.escape($0.1))</td></tr>" }.joined() + "</table>\n"
  }
}
