/// A map from t ∈ [0, 1] to an 8-bit RGB colour, given by control points and linear
/// interpolation between them (in sRGB values, rounded to the nearest integer).
///
/// Diverging maps (`bwr`, `seismic`, `coolwarm`) show signed relevance: the heatmap puts 0 at
/// t = 0.5 (their centre colour), −max|R| at t = 0 (blue) and +max|R| at t = 1 (red).
/// Sequential maps (`hot`, `inferno`, `gray`) show non-negative relevance: 0 at t = 0.
public struct Colormap: Equatable, Sendable, CustomStringConvertible {
  /// One control point: the colour at position `t`.
  public struct Stop: Equatable, Sendable {
    public var t: Double
    public var r: UInt8, g: UInt8, b: UInt8

    public init(_ t: Double, _ r: UInt8, _ g: UInt8, _ b: UInt8) {
      self.t = t
      self.r = r
      self.g = g
      self.b = b
    }
  }

  public var name: String
  /// Diverging maps have a neutral centre at t = 0.5 for relevance 0.
  public var isDiverging: Bool
  /// Control points with strictly increasing `t`, the first at 0 and the last at 1.
  public var stops: [Stop]

  public init(name: String, isDiverging: Bool, stops: [Stop]) {
    precondition(stops.count >= 2 && stops.first!.t == 0 && stops.last!.t == 1,
                 "colormap \(name): control points must run from t = 0 to t = 1")
    precondition(zip(stops, stops.dropFirst()).allSatisfy { $0.t < $1.t },
                 "colormap \(name): control points must have increasing t")
    self.name = name
    self.isDiverging = isDiverging
    self.stops = stops
  }

  public var description: String { name }

  /// The position relevance 0 takes: 0.5 on a diverging map, 0 on a sequential one.
  public var zeroPosition: Double { isDiverging ? 0.5 : 0 }

  /// The colour relevance 0 gets (white for `bwr`, black for `hot`).
  public var zeroColor: (r: UInt8, g: UInt8, b: UInt8) { color(at: zeroPosition) }

  /// The colour at `t`, clamped to [0, 1]; a NaN `t` gives the zero colour.
  /// Between control points a and b: c = c_a + (c_b − c_a)·(t − t_a)/(t_b − t_a), rounded.
  public func color(at t: Double) -> (r: UInt8, g: UInt8, b: UInt8) {
    let t = t.isNaN ? zeroPosition : min(max(t, 0), 1)
    var upper = 1
    while upper < stops.count - 1 && stops[upper].t < t { upper += 1 }
    let a = stops[upper - 1], b = stops[upper]
    let f = (t - a.t) / (b.t - a.t)
    func mix(_ x: UInt8, _ y: UInt8) -> UInt8 {
      UInt8(min(max((Double(x) + (Double(y) - Double(x)) * f).rounded(), 0), 255))
    }
    return (mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b))
  }

  // MARK: - Built-in maps

  /// Blue – white – red, white at 0.5: the usual signed map of the LRP literature; the default
  /// for signed relevance.
  public static let bwr = Colormap(name: "bwr", isDiverging: true, stops: [
    Stop(0, 0, 0, 255), Stop(0.5, 255, 255, 255), Stop(1, 255, 0, 0),
  ])

  /// Dark blue – blue – white – red – dark red: like `bwr` with darker ends, so the largest
  /// values stand out from the merely large.
  public static let seismic = Colormap(name: "seismic", isDiverging: true, stops: [
    Stop(0, 0, 0, 77), Stop(0.25, 0, 0, 255), Stop(0.5, 255, 255, 255),
    Stop(0.75, 255, 0, 0), Stop(1, 128, 0, 0),
  ])

  /// Muted blue – light grey – muted red (after Moreland's cool–warm map); the centre is a light
  /// grey, not white.
  public static let coolwarm = Colormap(name: "coolwarm", isDiverging: true, stops: [
    Stop(0, 59, 76, 192), Stop(0.25, 125, 160, 250), Stop(0.5, 221, 221, 221),
    Stop(0.75, 240, 140, 110), Stop(1, 180, 4, 38),
  ])

  /// Black – red – yellow – white; the default for non-negative relevance (CLRP maps).
  public static let hot = Colormap(name: "hot", isDiverging: false, stops: [
    Stop(0, 0, 0, 0), Stop(0.375, 255, 0, 0), Stop(0.75, 255, 255, 0), Stop(1, 255, 255, 255),
  ])

  /// Near black – purple – red – orange – pale yellow, an approximation of the perceptually
  /// uniform "inferno" map with increasing luminance.
  public static let inferno = Colormap(name: "inferno", isDiverging: false, stops: [
    Stop(0, 0, 0, 4), Stop(0.15, 40, 11, 84), Stop(0.3, 101, 21, 110), Stop(0.45, 159, 42, 99),
    Stop(0.6, 212, 72, 66), Stop(0.75, 245, 125, 21), Stop(0.9, 250, 193, 39),
    Stop(1, 252, 255, 164),
  ])

  /// Black – white.
  public static let gray = Colormap(name: "gray", isDiverging: false, stops: [
    Stop(0, 0, 0, 0), Stop(1, 255, 255, 255),
  ])

  /// Every built-in map, diverging ones first.
  public static let builtIn: [Colormap] = [bwr, seismic, coolwarm, hot, inferno, gray]

  /// The built-in map called `name` (case-insensitive; "grey" for "gray").
  /// Throws a `ModelError` listing the names otherwise.
  public static func named(_ name: String) throws -> Colormap {
    let key = name.lowercased() == "grey" ? "gray" : name.lowercased()
    if let map = builtIn.first(where: { $0.name == key }) { return map }
    let names = builtIn.map { $0.name + ($0.isDiverging ? " (diverging)" : " (sequential)") }
    throw ModelError("unknown colormap '\(name)'; the colormaps are \(names.joined(separator: ", "))")
  }
}
