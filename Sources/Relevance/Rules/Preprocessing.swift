import Foundation

/// How images become model inputs: first the geometry (resize, centre crop), then per pixel
/// x = (v - mean[c]) / std[c] with v = lo + p/255 · (hi - lo) for 8-bit p and `range` [lo, hi].
/// The z^B rule's bounds on the first layer are the images of the pixel range.
///
/// Built in:
/// - `imagenet`: torchvision's classic `Resize(256)` (shorter side) + `CenterCrop(224)`,
///   torchvision's mean/std, pixels in [0, 1]. For a model input other than 224×224 the sizes
///   scale with it: shorter side round(S·256/224), centre crop S×S for an S×S input
///   (round(min(H, W)·256/224) and H×W for a non-square one).
/// - `unit`: resized to exactly the model's input H×W, pixels in [0, 1], no normalization.
///
/// A YAML file gives its own (Docs/RULES.md):
///
///     mean: [0.485, 0.456, 0.406]
///     std: [0.229, 0.224, 0.225]
///     range: [0, 1]        # optional, default [0, 1]
///     layout: NCHW         # optional: NCHW or NHWC
///     resize: 256          # optional: the shorter side becomes 256 pixels (aspect kept)
///     size: [224, 224]     # optional, instead of resize: exactly H×W (or `input`: the model's)
///     crop: 224            # optional: centre crop, a number or [H, W]
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
  /// Resize so that the shorter side has this many pixels, keeping the aspect ratio
  /// (torchvision's `Resize(int)`).
  public var resize: Int?
  /// Resize to exactly [H, W] (torchvision's `Resize((h, w))`); not together with `resize`.
  public var size: [Int]?
  /// Centre crop [H, W] after resizing (torchvision's `CenterCrop`).
  public var crop: [Int]?
  /// How the geometry follows the model's input (the built-ins); `.none` for files.
  public var fit: Fit

  /// Geometry taken from the model's input size rather than from fixed numbers.
  public enum Fit: String, Equatable, Sendable {
    /// `resize`, `size` and `crop` as given.
    case none
    /// Resize to exactly the model's input H×W (`unit`; `size: input` in a file).
    case stretch
    /// `resize`/`crop` are written for a square input of `crop` pixels and scale with the
    /// model's input: shorter side round(min(H, W)·resize/crop), centre crop H×W (`imagenet`).
    case scaledCrop
  }

  /// The largest `resize`, `size` or `crop` value a file may give.
  public static let maxSide = 16384

  public init(name: String, mean: [Double], std: [Double], range: ClosedRange<Double> = 0...1,
              layout: Layout? = nil, resize: Int? = nil, size: [Int]? = nil, crop: [Int]? = nil,
              fit: Fit = .none) {
    self.name = name
    self.mean = mean
    self.std = std
    self.range = range
    self.layout = layout
    self.resize = resize
    self.size = size
    self.crop = crop
    self.fit = fit
  }

  public static let imagenet = Preprocessing(name: "imagenet", mean: [0.485, 0.456, 0.406],
                                             std: [0.229, 0.224, 0.225], resize: 256, crop: [224, 224],
                                             fit: .scaledCrop)
  public static let unit = Preprocessing(name: "unit", mean: [0], std: [1], fit: .stretch)
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
      throw ModelError("unknown preprocessing '\(nameOrPath)': give imagenet, unit, or the path of a YAML file with mean, std and optionally range, layout, resize or size, and crop")
    }
    return try Preprocessing(yaml: RuleSet.readText(nameOrPath), source: nameOrPath)
  }

  /// Parses a preprocessing file; problems are `ModelError`s naming `source`.
  public init(yaml: String, source: String) throws {
    guard let root = try ConfigYAML.compose(yaml, source: source) else {
      throw ModelError(file: source, "is empty; a preprocessing file needs `mean` and `std`")
    }
    if let dup = ConfigYAML.duplicateKey(in: root) {
      throw ModelError(file: source, "key `\(ConfigYAML.excerpt(dup.key))` is given twice" + (dup.line.map { " (line \($0))" } ?? ""))
    }
    let file = try ConfigYAML.decode(PreprocessingFile.self, yaml: yaml, source: source) { "entry \($0 + 1)" }
    let name = file.name ?? URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
    self.init(name: name, mean: file.mean, std: file.std, range: file.range, layout: file.layout,
              resize: file.resize, size: file.size, crop: file.crop, fit: file.sizeIsInput ? .stretch : .none)
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
  var resize: Int?
  var size: [Int]?
  var crop: [Int]?
  var sizeIsInput = false

  init(from decoder: Decoder) throws {
    let m = try ConfigMapping(decoder, notMapping: "must be a mapping with `mean` and `std`")
    try m.rejectUnknownKeys(["name", "description", "mean", "std", "range", "layout", "resize", "size", "crop"], what: "key")
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
    // Everything downstream computes in 32-bit floats: the values, and the normalized bounds
    // (lo - mean) / std, (hi - mean) / std and scale (hi - lo) / 255 / std per channel.
    for (key, values) in [("mean", mean), ("std", std), ("range", [range.lowerBound, range.upperBound])] {
      if let x = values.first(where: { !Float($0).isFinite }) {
        throw ConfigProblem("`\(key)` \(x) is too large for 32-bit floats (largest \(Float.greatestFiniteMagnitude))")
      }
    }
    for c in 0..<max(mean.count, std.count) {
      let mc = mean[mean.count == 1 ? 0 : c], sc = std[std.count == 1 ? 0 : c]
      let low = (range.lowerBound - mc) / sc, high = (range.upperBound - mc) / sc
      let scale = (range.upperBound - range.lowerBound) / 255 / sc
      guard Float(low).isFinite, Float(high).isFinite, Float(scale).isFinite else {
        let channel = max(mean.count, std.count) > 1 ? " (channel \(c))" : ""
        throw ConfigProblem("`std` \(sc)\(channel) is too small: the normalized pixel range [\(low), \(high)] does not fit 32-bit floats")
      }
    }
    if let text = try m.string("layout") {
      guard let layout = Preprocessing.Layout(rawValue: text.uppercased()) else {
        throw ConfigProblem("`layout` must be NCHW or NHWC, not `\(ConfigYAML.excerpt(text))`")
      }
      self.layout = layout
    }
    func sides(_ key: String, _ values: [Double], allowed: Set<Int>, what: String) throws -> [Int] {
      guard allowed.contains(values.count),
            values.allSatisfy({ $0 == $0.rounded() && $0 >= 1 && $0 <= Double(Preprocessing.maxSide) }) else {
        throw ConfigProblem("`\(key)` must be \(what), in whole pixels from 1 to \(Preprocessing.maxSide)")
      }
      return values.map { Int($0) }
    }
    if m.has("resize") {
      guard let r = try? m.numbers("resize") else { throw ConfigProblem("`resize` must be one whole number (the shorter side in pixels)") }
      resize = try sides("resize", r, allowed: [1], what: "one number (the shorter side in pixels)")[0]
    }
    if m.has("size") {
      if (try? m.string("size"))?.lowercased() == "input" {
        sizeIsInput = true
      } else {
        guard let s = try? m.numbers("size") else { throw ConfigProblem("`size` must be [height, width] or `input`") }
        size = try sides("size", s, allowed: [2], what: "[height, width] or `input`")
      }
    }
    if m.has("crop") {
      guard let c = try? m.numbers("crop") else { throw ConfigProblem("`crop` must be a number or [height, width]") }
      let v = try sides("crop", c, allowed: [1, 2], what: "a number or [height, width]")
      crop = v.count == 1 ? [v[0], v[0]] : v
    }
    if resize != nil && (size != nil || sizeIsInput) {
      throw ConfigProblem("give `resize` (the shorter side) or `size` (exact height and width), not both")
    }
  }
}

// MARK: Images to model inputs

extension Preprocessing {
  /// The resize and crop for a model input of `height`×`width`: `size` and `crop` as [H, W].
  public func geometry(height: Int, width: Int) -> (resize: Int?, size: [Int]?, crop: [Int]?) {
    switch fit {
    case .none:
      return (resize, size, crop)
    case .stretch:
      return (nil, [height, width], nil)
    case .scaledCrop:
      let reference = crop?[0] ?? 224, side = resize ?? reference
      let scaled = Int((Double(min(height, width)) * Double(side) / Double(reference)).rounded())
      return (scaled, nil, [height, width])
    }
  }

  /// The batch-1 model input for `image`: resized and centre-cropped (see `geometry`), each
  /// pixel p mapped to lo + p/255·(hi − lo) and normalized, in the model's layout.
  ///
  /// `inputShape` is [1, C, H, W], or [1, H, W, C] when `layout` is NHWC. C is 3 (R, G, B) or
  /// 1: the luminance L = (19595 R + 38470 G + 7471 B + 2¹⁵) >> 16 ≈ 0.299 R + 0.587 G + 0.114 B,
  /// PIL's `convert("L")`. `source` names the image in errors.
  public func tensor(from image: RGBImage, inputShape: [Int], source: String) throws -> Tensor {
    let nhwc = layout == .nhwc
    guard inputShape.count == 4, inputShape[0] == 1 else {
      throw ModelError(file: source, "an image becomes a batch-1 input of rank 4, but the model's input shape is \(inputShape)")
    }
    let (channels, height, width) = nhwc ? (inputShape[3], inputShape[1], inputShape[2])
                                         : (inputShape[1], inputShape[2], inputShape[3])
    guard channels == 3 || channels == 1 else {
      throw ModelError(file: source, "the model takes \(channels) channels (input shape \(inputShape)\(layout == nil ? ", read as NCHW" : "")); an image gives 3 (RGB) or 1 (luminance)" + (nhwc ? "" : "; for an NHWC model give `layout: NHWC` in the preprocessing"))
    }
    if let n = self.channels, n != channels {
      throw ModelError(file: source, "preprocessing '\(name)' has \(n) channels (mean \(mean.count), std \(std.count)); the model's input has \(channels)")
    }
    let g = geometry(height: height, width: width)
    var picture = image
    if let size = g.size {
      picture = ImageResize.resize(picture, width: size[1], height: size[0])
    } else if let side = g.resize {
      picture = ImageResize.resizeShorterSide(picture, to: side)
    }
    if let crop = g.crop {
      guard crop[0] <= picture.height, crop[1] <= picture.width else {
        let resized = g.size != nil || g.resize != nil ? " after resizing" : ""
        throw ModelError(file: source, "the image is \(picture.height)×\(picture.width) pixels (height×width)\(resized), smaller than the \(crop[0])×\(crop[1]) centre crop of preprocessing '\(name)'" + (resized.isEmpty ? "; give `resize` or `size` in the preprocessing" : ""))
      }
      picture = ImageResize.centerCrop(picture, width: crop[1], height: crop[0])
    }
    guard picture.height == height, picture.width == width else {
      throw ModelError(file: source, "preprocessing '\(name)' gives \(picture.height)×\(picture.width) pixels (height×width) from this \(image.height)×\(image.width) image, the model takes \(height)×\(width); set `size: [\(height), \(width)]` (or `resize` and `crop`) in a preprocessing file, or use --preprocess unit or imagenet")
    }
    let lo = range.lowerBound, span = range.upperBound - range.lowerBound
    var scale = [Float](), shift = [Float]()   // x = p · scale[c] + shift[c]
    for c in 0..<channels {
      let m = mean[mean.count == 1 ? 0 : c], s = std[std.count == 1 ? 0 : c]
      scale.append(Float(span / 255 / s))
      shift.append(Float((lo - m) / s))
    }
    let plane = height * width
    var data = [Float](repeating: 0, count: plane * channels)
    picture.pixels.withUnsafeBufferPointer { p in
      data.withUnsafeMutableBufferPointer { x in
        for i in 0..<plane {
          if channels == 1 {
            let l = (19595 * Int(p[3 * i]) + 38470 * Int(p[3 * i + 1]) + 7471 * Int(p[3 * i + 2]) + 0x8000) >> 16
            x[i] = Float(l) * scale[0] + shift[0]
          } else {
            for c in 0..<3 {
              x[nhwc ? 3 * i + c : c * plane + i] = Float(p[3 * i + c]) * scale[c] + shift[c]
            }
          }
        }
      }
    }
    return Tensor(shape: inputShape, data: data)
  }

  /// A picture of a preprocessed batch-1 input (e.g. a user's `.npy`), for overlays: the
  /// normalization undone, p = 255 · (x · std + mean − lo) / (hi − lo), rounded and clamped to
  /// 0...255. The shape is [1, C, H, W] or [C, H, W] ([1, H, W, C] or [H, W, C] for NHWC); one
  /// channel gives gray, three give RGB, any other count shows the first channel in gray.
  public func displayImage(from input: Tensor) -> RGBImage {
    var shape = input.shape
    if shape.count == 4 { shape.removeFirst() }
    precondition(shape.count == 3, "displayImage needs a [1, C, H, W] or [C, H, W] input, got \(input.shape)")
    let nhwc = layout == .nhwc
    let (channels, height, width) = nhwc ? (shape[2], shape[0], shape[1]) : (shape[0], shape[1], shape[2])
    let plane = height * width
    let lo = range.lowerBound, span = range.upperBound - range.lowerBound
    var pixels = [UInt8](repeating: 0, count: plane * 3)
    for i in 0..<plane {
      for c in 0..<3 {
        let k = channels == 3 ? c : 0
        let x = Double(input.data[nhwc ? i * channels + k : k * plane + i])
        let m = mean[mean.count == 1 ? 0 : min(k, mean.count - 1)], s = std[std.count == 1 ? 0 : min(k, std.count - 1)]
        let p = 255 * (x * s + m - lo) / span
        pixels[3 * i + c] = p.isNaN ? 0 : UInt8(max(0, min(255, p.rounded())))
      }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
  }
}
