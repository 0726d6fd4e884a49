import Foundation

/// What an evaluation run was made with; records of runs with different settings never mix
/// (resuming and merging check it).
public struct EvaluationSettings: Codable, Equatable, Sendable {
  public var kind: String
  public var model: String
  public var dataset: String
  /// The ImageNet layout's annotation folder and synset file (nil for clrp's JSON layout).
  public var annotations: String?
  public var synsets: String?
  /// Explanation methods and baselines (`center`, `random`), in order.
  public var methods: [String]
  public var rules: String?
  public var preprocess: String
  public var dual: String
  public var normalize: String
  /// Pointing game: energy fractions and the tolerance of the classic game, in input pixels.
  public var energies: [Double]?
  public var tolerance: Double?
  /// Ablation: the side of the square patch, in input pixels.
  public var patch: Int?
  /// `i/n`: this run holds the images whose index is i modulo n.
  public var shard: String?

  public init(kind: String, model: String, dataset: String, annotations: String? = nil, synsets: String? = nil,
              methods: [String], rules: String?, preprocess: String, dual: String, normalize: String,
              energies: [Double]? = nil, tolerance: Double? = nil, patch: Int? = nil, shard: String? = nil) {
    self.kind = kind
    self.model = model
    self.dataset = dataset
    self.annotations = annotations
    self.synsets = synsets
    self.methods = methods
    self.rules = rules
    self.preprocess = preprocess
    self.dual = dual
    self.normalize = normalize
    self.energies = energies
    self.tolerance = tolerance
    self.patch = patch
    self.shard = shard
  }

  /// The settings with the shard left out: what shards of one run share.
  public var unsharded: EvaluationSettings {
    var copy = self
    copy.shard = nil
    return copy
  }
}

/// One image's results: per annotated class and method, the pointing hits per energy and the
/// classic game's hit, or the ablation drop. `error` when the image could not be used.
public struct EvaluationRecord: Codable, Equatable, Sendable {
  public struct Case: Codable, Equatable, Sendable {
    public var `class`: Int
    public var method: String
    /// Pointing game: a hit per energy fraction, and the classic game.
    public var hits: [Bool]?
    public var point: Bool?
    /// Ablation: z_c(x) − z_c(x with the patch at `at` replaced by the mean image), and `at`
    /// ([x, y], the map's maximum or a random position).
    public var drop: Double?
    public var at: [Int]?
  }

  public var index: Int
  public var image: String
  public var error: String?
  public var cases: [Case]
}

/// Accuracy and drops per method over a set of records.
public struct EvaluationSummary: Codable, Equatable, Sendable {
  public struct Method: Codable, Equatable, Sendable {
    public var energies: [Double]?
    /// Hits / cases per energy.
    public var accuracy: [Double]?
    public var pointAccuracy: Double?
    public var meanDrop: Double?
    public var cases: Int
  }

  public var settings: EvaluationSettings
  public var methods: [String: Method]
  /// Images evaluated, and images that failed (unreadable, ...), counted, not lost.
  public var images: Int
  public var failed: Int
  public var skippedAtLoad: Int

  public init(settings: EvaluationSettings, records: [EvaluationRecord], skippedAtLoad: Int = 0) {
    self.settings = settings
    self.images = records.filter { $0.error == nil }.count
    self.failed = records.count - images
    self.skippedAtLoad = skippedAtLoad
    var methods: [String: Method] = [:]
    for name in settings.methods {
      let cases = records.flatMap { $0.cases.filter { $0.method == name } }
      var m = Method(cases: cases.count)
      if let energies = settings.energies {
        m.energies = energies
        m.accuracy = energies.indices.map { k in
          cases.isEmpty ? 0 : Double(cases.filter { $0.hits?[k] == true }.count) / Double(cases.count)
        }
        m.pointAccuracy = cases.isEmpty ? 0 : Double(cases.filter { $0.point == true }.count) / Double(cases.count)
      }
      if settings.patch != nil {
        let drops = cases.compactMap(\.drop)
        m.meanDrop = drops.isEmpty ? 0 : drops.reduce(0, +) / Double(drops.count)
      }
      methods[name] = m
    }
    self.methods = methods
  }

  /// `method,energy,accuracy,cases` rows (pointing; energy `point` for the classic game) or
  /// `method,mean_drop,cases` (ablation).
  public var csv: String {
    var lines: [String] = []
    if settings.patch != nil {
      lines.append("method,mean_drop,cases")
      for name in settings.methods { if let m = methods[name] { lines.append("\(name),\(m.meanDrop ?? 0),\(m.cases)") } }
    } else {
      lines.append("method,energy,accuracy,cases")
      for name in settings.methods {
        guard let m = methods[name] else { continue }
        for (e, a) in zip(m.energies ?? [], m.accuracy ?? []) { lines.append("\(name),\(e),\(a),\(m.cases)") }
        lines.append("\(name),point,\(m.pointAccuracy ?? 0),\(m.cases)")
      }
    }
    return lines.joined(separator: "\n") + "\n"
  }
}

/// Runs the pointing game or the ablation study on one image: all methods' maps for all of its
/// classes come from one `Explainer.explain` call (one batched backward pass per rule set).
public struct Evaluator: Sendable {
  public let explainer: Explainer
  public let dataset: Dataset
  public let settings: EvaluationSettings
  /// Ablation: the dataset's mean input (model space, batch 1).
  public let meanInput: Tensor?

  /// The dataset a run's settings name, in its layout.
  public static func dataset(of settings: EvaluationSettings) throws -> Dataset {
    switch (settings.annotations, settings.synsets) {
    case (nil, nil): return try Dataset.load(path: settings.dataset)
    case (let a?, let s?): return try Dataset.loadImageNet(images: settings.dataset, annotations: a, synsets: s)
    default: throw ModelError("the ImageNet layout needs both --annotations and --synsets")
    }
  }

  public init(explainer: Explainer, dataset: Dataset, settings: EvaluationSettings, meanInput: Tensor? = nil) {
    self.explainer = explainer
    self.dataset = dataset
    self.settings = settings
    self.meanInput = meanInput
  }

  var methods: [ExplanationMethod] { settings.methods.compactMap(ExplanationMethod.init(rawValue:)) }
  var baselines: [BaselineMap] { settings.methods.compactMap(BaselineMap.init(rawValue:)) }

  /// The record of image `index`; an image that cannot be read or explained gives a record
  /// with `error` set (the run goes on).
  public func evaluate(index: Int) -> EvaluationRecord {
    let image = dataset.images[index]
    do {
      return try evaluateOrThrow(index: index)
    } catch {
      return EvaluationRecord(index: index, image: image.file, error: "\(error)", cases: [])
    }
  }

  /// Image `index` as the model sees it: the input, its size and layout, and the boxes of
  /// each class in input pixels (annotations give the size their boxes refer to; the file
  /// decides the geometry). Classes whose boxes the crop removed have none.
  struct PreparedImage {
    var input: Tensor
    var width: Int
    var height: Int
    var layout: Preprocessing.Layout
    var boxes: [Int: [Box]]
  }

  func prepare(index: Int) throws -> PreparedImage {
    let image = dataset.images[index]
    let path = dataset.path(of: image)
    let preprocessing = explainer.preprocessing ?? .imagenet
    let shape = try explainer.inputShape()
    let layout = preprocessing.layout ?? .nchw
    let (height, width) = layout == .nhwc ? (shape[1], shape[2]) : (shape[2], shape[3])
    let picture = try ImageFile.read(path: path)
    let input = try preprocessing.tensor(from: picture, inputShape: shape, source: path)
    var boxes: [Int: [Box]] = [:]
    let sx = Double(picture.width) / Double(image.width), sy = Double(picture.height) / Double(image.height)
    for o in image.objects {
      let inImage = Box(x0: o.box.x0 * sx, y0: o.box.y0 * sy, x1: o.box.x1 * sx, y1: o.box.y1 * sy)
      if let b = preprocessing.inputBox(inImage, imageWidth: picture.width, imageHeight: picture.height, inputHeight: height, inputWidth: width) {
        boxes[o.classIndex, default: []].append(b)
      }
    }
    return PreparedImage(input: input, width: width, height: height, layout: layout, boxes: boxes)
  }

  /// The baseline map of image `index` and `class` (seeded per image and class).
  func baselineMap(_ baseline: BaselineMap, index: Int, class c: Int, width: Int, height: Int) -> RelevanceMap {
    baseline.map(width: width, height: height, seed: UInt64(index) &* 1_000_003 &+ UInt64(c))
  }

  func evaluateOrThrow(index: Int) throws -> EvaluationRecord {
    let image = dataset.images[index]
    let prepared = try prepare(index: index)
    let (input, width, height, layout, boxes) = (prepared.input, prepared.width, prepared.height, prepared.layout, prepared.boxes)
    let classes = image.classes.filter { boxes[$0] != nil }
    var cases: [EvaluationRecord.Case] = []
    guard !classes.isEmpty else { return EvaluationRecord(index: index, image: image.file, error: nil, cases: []) }

    var maps: [(method: String, class: Int, map: RelevanceMap)] = []
    var logits: [Float] = []
    if !methods.isEmpty {
      let result = try explainer.explain(input, methods: methods, targets: .targets(classes.map { .class($0) }))
      logits = result.logits
      for m in result.maps {
        guard case .classes(let c) = m.target else { continue }
        maps.append((m.method.rawValue, c[0], try RelevanceMap(m.relevance, layout: layout)))
      }
    }
    for baseline in baselines {
      for c in classes { maps.append((baseline.rawValue, c, baselineMap(baseline, index: index, class: c, width: width, height: height))) }
    }
    if let energies = settings.energies {
      for (method, c, map) in maps {
        let b = boxes[c]!
        cases.append(.init(class: c, method: method, hits: PointingGame.energyHits(map, boxes: b, energies: energies),
                           point: PointingGame.pointHit(map, boxes: b, tolerance: settings.tolerance ?? 0)))
      }
    }
    if let patch = settings.patch, let mean = meanInput {
      if logits.isEmpty { logits = try explainer.classify(input) }
      for (method, c, map) in maps {
        let at = method == BaselineMap.random.rawValue
          ? randomPosition(width: width, height: height, seed: UInt64(index) &* 7_919 &+ UInt64(c))
          : PointingGame.maximum(map)
        let ablated = Ablation.replacePatch(input, with: mean, centre: at, side: patch, layout: layout)
        let after = try explainer.classify(ablated)
        cases.append(.init(class: c, method: method, drop: Double(logits[c]) - Double(after[c]), at: [at.x, at.y]))
      }
    }
    return EvaluationRecord(index: index, image: image.file, error: nil, cases: cases)
  }

  func randomPosition(width: Int, height: Int, seed: UInt64) -> (x: Int, y: Int) {
    var generator = SplitMix64(seed: seed)
    return (Int(generator.next() % UInt64(width)), Int(generator.next() % UInt64(height)))
  }

  /// The mean model input over the dataset's images (those that can be read), for the ablation.
  public static func meanInput(dataset: Dataset, preprocessing: Preprocessing, inputShape: [Int],
                               progress: ((Int) -> Void)? = nil) throws -> Tensor {
    var sum = [Double](repeating: 0, count: inputShape.elementCount)
    var count = 0
    for (i, image) in dataset.images.enumerated() {
      progress?(i)
      let path = dataset.path(of: image)
      guard let picture = try? ImageFile.read(path: path),
            let x = try? preprocessing.tensor(from: picture, inputShape: inputShape, source: path) else { continue }
      for j in sum.indices { sum[j] += Double(x.data[j]) }
      count += 1
    }
    guard count > 0 else { throw ModelError(file: dataset.root, "no image of the dataset could be read for the mean image") }
    return Tensor(shape: inputShape, data: sum.map { Float($0 / Double(count)) })
  }
}

/// The ablation study of Gu et al. 2018 (Table 1): replace a patch around the most relevant
/// point by the dataset's mean image and measure how much the class score drops.
public enum Ablation {
  /// `input` with the side×side square centred on `centre` (clipped to the input) taken from
  /// `mean` in every channel. For even sides the square spans centre − side/2 ..< centre + side/2.
  public static func replacePatch(_ input: Tensor, with mean: Tensor, centre: (x: Int, y: Int), side: Int,
                                  layout: Preprocessing.Layout) -> Tensor {
    let s = input.shape
    let (c, h, w) = layout == .nhwc ? (s[3], s[1], s[2]) : (s[1], s[2], s[3])
    var out = input.data
    let y0 = max(0, centre.y - side / 2), y1 = min(h, centre.y - side / 2 + side)
    let x0 = max(0, centre.x - side / 2), x1 = min(w, centre.x - side / 2 + side)
    for ch in 0..<c {
      for y in y0..<max(y0, y1) {
        for x in x0..<max(x0, x1) {
          let i = layout == .nhwc ? (y * w + x) * c + ch : (ch * h + y) * w + x
          out[i] = mean.data[i]
        }
      }
    }
    return Tensor(shape: s, data: out)
  }
}

extension Explainer {
  /// The logits of one input (batch 1), through the cached plan of the first method's rules.
  public func classify(_ input: Tensor) throws -> [Float] {
    let plan = try self.plan(for: .lrp, inputShape: input.shape)
    return try plan.forward.run(input)[plan.graph.outputs[0]]!.data
  }
}
