import Foundation

/// How images become model inputs: x = (pixel - mean[c]) / std[c] with pixels in `range`.
/// The z^B rule's bounds on the first layer are the images of the pixel range.
///
/// Built in: `imagenet` (torchvision's mean/std, pixels in [0, 1]) and `unit` (no normalization,
/// pixels in [0, 1]). A YAML file gives its own (Docs/RULES.md):
///
///     mean: [0.485, 0.456, 0.406]
///     std: [0.229, 0.224, 0.225]
///     range: [0, 1]        # optional, default [0, 1]
///     layout: NCHW         # optional: NCHW or NHWC
public struct Preprocessing: Equatable, Sendable {
  public enum Layout: String, Equatable, Sendable, CaseIterable {
    case nchw = "NCHW"
    case nhwc = "NHWC"
  }

  public var name: String
  /// One value per channel, or one for all channels.
  public var mean: [Double]
  /// One value per channel, or one for all channels; all > 0.
  public var std: [Double]
  /// The pixel range before normalization.
  public var range: ClosedRange<Double>
  public var layout: Layout?

  public init(name: String, mean: [Double], std: [Double], range: ClosedRange<Double> = 0...1,
              layout: Layout? = nil) {
    self.name = name
    self.mean = mean
    self.std = std
    self.range = range
    self.layout = layout
  }

  public static let imagenet = Preprocessing(name: "imagenet", mean: [0.485, 0.456, 0.406],
                                             std: [0.229, 0.224, 0.225])
  public static let unit = Preprocessing(name: "unit", mean: [0], std: [1])
  public static let builtIn: [String: Preprocessing] = ["imagenet": imagenet, "unit": unit]

  /// Channels the preprocessing is written for; nil when mean and std are single values.
  public var channels: Int? {
    let n = max(mean.count, std.count)
    return n == 1 ? nil : n
  }

  /// `imagenet`, `unit` (case-insensitive), or the path of a YAML file.
  public static func load(nameOrPath: String) throws -> Preprocessing {
    if let builtIn = builtIn[nameOrPath.lowercased()] { return builtIn }
    guard FileManager.default.fileExists(atPath: nameOrPath) else {
      throw ModelError("unknown preprocessing '\(nameOrPath)': give imagenet, unit, or the path of a YAML file with mean, std and optionally range and layout")
    }
    return try Preprocessing(yaml: RuleSet.readText(nameOrPath), source: nameOrPath)
  }

  /// Parses a preprocessing file; problems are `ModelError`s naming `source`.
  public init(yaml: String, source: String) throws {
    guard let root = try ConfigYAML.compose(yaml, source: source) else {
      throw ModelError(file: source, "is empty; a preprocessing file needs `mean` and `std`")
    }
    if let dup = ConfigYAML.duplicateKey(in: root) {
      throw ModelError(file: source, "key `\(dup.key)` is given twice" + (dup.line.map { " (line \($0))" } ?? ""))
    }
    let file = try ConfigYAML.decode(PreprocessingFile.self, yaml: yaml, source: source) { "entry \($0 + 1)" }
    let name = file.name ?? URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
    self.init(name: name, mean: file.mean, std: file.std, range: file.range, layout: file.layout)
  }

  /// Per-channel z^B bounds: ((lo - mean) / std, (hi - mean) / std) for `channels` channels.
  public func zBoxBounds(channels: Int) throws -> (low: [Float], high: [Float]) {
    if let n = self.channels, n != channels {
      throw ModelError("preprocessing '\(name)' has \(n) channels (mean \(mean.count), std \(std.count)); the layer's input has \(channels)")
    }
    var low: [Float] = [], high: [Float] = []
    for c in 0..<channels {
      let m = mean[mean.count == 1 ? 0 : c], s = std[std.count == 1 ? 0 : c]
      low.append(Float((range.lowerBound - m) / s))
      high.append(Float((range.upperBound - m) / s))
    }
    return (low, high)
  }
}

struct PreprocessingFile: Decodable {
  var name: String?
  var mean: [Double]
  var std: [Double]
  var range: ClosedRange<Double> = 0...1
  var layout: Preprocessing.Layout?

  init(from decoder: Decoder) throws {
    let m = try ConfigMapping(decoder, notMapping: "must be a mapping with `mean` and `std`")
    try m.rejectUnknownKeys(["name", "description", "mean", "std", "range", "layout"], what: "key")
    name = try m.string("name")
    _ = try m.string("description")
    guard let mean = try m.numbers("mean"), let std = try m.numbers("std") else {
      throw ConfigProblem("needs `mean` and `std` (a number or one per channel)")
    }
    if mean.count > 1 && std.count > 1 && mean.count != std.count {
      throw ConfigProblem("`mean` has \(mean.count) values and `std` \(std.count)")
    }
    guard std.allSatisfy({ $0 > 0 }) else { throw ConfigProblem("`std` values must be > 0") }
    self.mean = mean
    self.std = std
    if let r = try m.numbers("range") {
      guard r.count == 2, r[0] < r[1] else { throw ConfigProblem("`range` must be [low, high] with low < high") }
      range = r[0]...r[1]
    }
    if let text = try m.string("layout") {
      guard let layout = Preprocessing.Layout(rawValue: text.uppercased()) else {
        throw ConfigProblem("`layout` must be NCHW or NHWC, not `\(text)`")
      }
      self.layout = layout
    }
  }
}
