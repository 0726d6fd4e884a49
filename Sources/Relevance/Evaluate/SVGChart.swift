import Foundation

/// Inline SVG charts for the HTML report: a line plot (pointing accuracy against energy, the
/// paper's Fig. 4) and a bar chart (mean logit drop, the paper's Table 1). Pure functions of
/// their data; every text is escaped; no fonts, scripts or links, so the SVG stands alone.
///
/// Geometry: a `width` × `height` picture, the plot area inset by `margin` (left 56, right
/// 150 for the line plot's legend or 16 for bars, top 16, bottom 44 px); data (x, y) maps linearly from the axis ranges to
/// the plot area, y growing upwards. Series and bars take colours from `palette` in order.
public enum SVGChart {
  /// One line of a line plot: `points` are (x, y) in data units, drawn in order.
  public struct Series: Equatable, Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]

    public init(name: String, points: [(x: Double, y: Double)]) {
      self.name = name
      self.points = points
    }

    public static func == (a: Series, b: Series) -> Bool {
      a.name == b.name && a.points.count == b.points.count && zip(a.points, b.points).allSatisfy { $0 == $1 }
    }
  }

  /// Distinct colours that read on white (a colour-blind-safe set), repeated when exhausted.
  public static let palette = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#999999"]

  static let margin = (left: 56.0, right: 150.0, top: 16.0, bottom: 44.0)

  /// A line plot: one `<polyline data-method="NAME">` per series with a circle marker on every
  /// point, x and y axes with `ticks` (labels "%g"), axis labels, and a legend at the right.
  /// Points outside the ranges are clamped to the plot area. `cssClass` names the `<svg>`.
  public static func linePlot(series: [Series], xRange: ClosedRange<Double>, yRange: ClosedRange<Double>,
                              xTicks: [Double], yTicks: [Double], xLabel: String, yLabel: String,
                              cssClass: String, width: Double = 640, height: Double = 360) -> String {
    let frame = Frame(width: width, height: height, xRange: xRange, yRange: yRange)
    var svg = frame.open(cssClass: cssClass, label: "\(yLabel) against \(xLabel)")
    svg += frame.axes(xTicks: xTicks, yTicks: yTicks, xLabel: xLabel, yLabel: yLabel)
    for (i, s) in series.enumerated() {
      let colour = palette[i % palette.count]
      let points = s.points.map { "\(number(frame.px($0.x))),\(number(frame.py($0.y)))" }.joined(separator: " ")
      svg += "<g><title>\(HTML.escape(s.name))</title>"
      svg += "<polyline data-method=\"\(HTML.escape(s.name))\" points=\"\(points)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
      for p in s.points {
        svg += "<circle cx=\"\(number(frame.px(p.x)))\" cy=\"\(number(frame.py(p.y)))\" r=\"3.5\" fill=\"\(colour)\"/>"
      }
      svg += "</g>"
    }
    svg += frame.legend(series.map(\.name))
    return svg + "</svg>"
  }

  /// A bar chart: one `<rect data-method="NAME">` per bar from 0 to its value (negative values
  /// go down), the value printed at its end, names under the x axis, a y axis from
  /// min(0, smallest) to the largest value (rounded out to `niceTicks`).
  public static func barChart(bars: [(name: String, value: Double)], yLabel: String, cssClass: String,
                              width: Double = 640, height: Double = 320) -> String {
    let values = bars.map(\.value).filter(\.isFinite)
    let ticks = niceTicks(low: min(0, values.min() ?? 0), high: max(0, values.max() ?? 1))
    let frame = Frame(width: width, height: height, xRange: 0...Double(max(bars.count, 1)),
                      yRange: ticks.first!...ticks.last!, rightMargin: 16)
    var svg = frame.open(cssClass: cssClass, label: yLabel)
    svg += frame.axes(xTicks: [], yTicks: ticks, xLabel: "", yLabel: yLabel)
    let slot = (frame.right - frame.left) / Double(max(bars.count, 1))
    for (i, bar) in bars.enumerated() {
      let value = bar.value.isFinite ? bar.value : 0
      let x = frame.left + slot * (Double(i) + 0.15), w = slot * 0.7
      let top = min(frame.py(value), frame.py(0)), h = abs(frame.py(value) - frame.py(0))
      svg += "<rect data-method=\"\(HTML.escape(bar.name))\" x=\"\(number(x))\" y=\"\(number(top))\" width=\"\(number(w))\" height=\"\(number(h))\" fill=\"\(palette[i % palette.count])\"><title>\(HTML.escape(bar.name)): \(HTML.escape(String(format: "%.4f", bar.value)))</title></rect>"
      svg += text(x: x + w / 2, y: value >= 0 ? top - 4 : top + h + 14, String(format: "%.3f", bar.value), anchor: "middle")
      svg += text(x: x + w / 2, y: frame.bottom + 16, bar.name, anchor: "middle")
    }
    return svg + "</svg>"
  }

  /// Ticks at a round step (1, 2 or 5 × 10^k) covering [low, high] in 4 to 10 steps.
  public static func niceTicks(low: Double, high: Double) -> [Double] {
    let span = high > low ? high - low : max(abs(high), 1)
    let raw = span / 5, power = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 5, 10].map { $0 * power }.first { span / $0 <= 10 } ?? 10 * power
    let first = floor(low / step), last = ceil((high > low ? high : low + span) / step)
    return stride(from: first, through: last, by: 1).map { ($0 * step * 1e9).rounded() / 1e9 }
  }

  /// The plot area and its mapping from data to picture coordinates.
  struct Frame {
    var width, height: Double
    var xRange, yRange: ClosedRange<Double>
    /// Room right of the plot area (the legend's).
    var rightMargin = margin.right
    var left: Double { margin.left }
    var right: Double { width - rightMargin }
    var top: Double { margin.top }
    var bottom: Double { height - margin.bottom }

    func px(_ x: Double) -> Double {
      let span = xRange.upperBound - xRange.lowerBound
      return left + (right - left) * min(max((x - xRange.lowerBound) / (span > 0 ? span : 1), 0), 1)
    }

    func py(_ y: Double) -> Double {
      let span = yRange.upperBound - yRange.lowerBound
      return bottom - (bottom - top) * min(max((y - yRange.lowerBound) / (span > 0 ? span : 1), 0), 1)
    }

    func open(cssClass: String, label: String) -> String {
      "<svg class=\"\(HTML.escape(cssClass))\" role=\"img\" aria-label=\"\(HTML.escape(label))\" width=\"\(number(width))\" height=\"\(number(height))\" viewBox=\"0 0 \(number(width)) \(number(height))\" font-family=\"sans-serif\" font-size=\"12\">"
    }

    /// Frame lines, grid lines and labels at the ticks, and the axis labels.
    func axes(xTicks: [Double], yTicks: [Double], xLabel: String, yLabel: String) -> String {
      var svg = ""
      for t in yTicks {
        let y = number(py(t))
        svg += "<line x1=\"\(number(left))\" y1=\"\(y)\" x2=\"\(number(right))\" y2=\"\(y)\" stroke=\"#e4e4e4\"/>"
        svg += SVGChart.text(x: left - 6, y: py(t) + 4, String(format: "%g", t), anchor: "end")
      }
      for t in xTicks {
        let x = number(px(t))
        svg += "<line x1=\"\(x)\" y1=\"\(number(bottom))\" x2=\"\(x)\" y2=\"\(number(bottom + 5))\" stroke=\"#333\"/>"
        svg += SVGChart.text(x: px(t), y: bottom + 18, String(format: "%g", t), anchor: "middle")
      }
      svg += "<line x1=\"\(number(left))\" y1=\"\(number(top))\" x2=\"\(number(left))\" y2=\"\(number(bottom))\" stroke=\"#333\"/>"
      svg += "<line x1=\"\(number(left))\" y1=\"\(number(py(max(yRange.lowerBound, min(0, yRange.upperBound)))))\" x2=\"\(number(right))\" y2=\"\(number(py(max(yRange.lowerBound, min(0, yRange.upperBound)))))\" stroke=\"#333\"/>"
      if !xLabel.isEmpty { svg += SVGChart.text(x: (left + right) / 2, y: height - 6, xLabel, anchor: "middle") }
      let cy = (top + bottom) / 2
      svg += "<text x=\"14\" y=\"\(number(cy))\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(number(cy)))\">\(HTML.escape(yLabel))</text>"
      return svg
    }

    /// A colour swatch and the name of each series, right of the plot area.
    func legend(_ names: [String]) -> String {
      var svg = ""
      for (i, name) in names.enumerated() {
        let y = top + 8 + Double(i) * 18, x = right + 16
        svg += "<line x1=\"\(number(x))\" y1=\"\(number(y))\" x2=\"\(number(x + 20))\" y2=\"\(number(y))\" stroke=\"\(palette[i % palette.count])\" stroke-width=\"2\"/>"
        svg += "<circle cx=\"\(number(x + 10))\" cy=\"\(number(y))\" r=\"3.5\" fill=\"\(palette[i % palette.count])\"/>"
        svg += SVGChart.text(x: x + 26, y: y + 4, name, anchor: "start")
      }
      return svg
    }
  }

  static func text(x: Double, y: Double, _ content: String, anchor: String) -> String {
    "<text x=\"\(number(x))\" y=\"\(number(y))\" text-anchor=\"\(anchor)\">\(HTML.escape(content))</text>"
  }

  /// A coordinate with at most two decimals ("12.5", "100").
  static func number(_ v: Double) -> String {
    let r = (v * 100).rounded() / 100
    return r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r).replacingOccurrences(of: #"0$"#, with: "", options: .regularExpression)
  }
}
