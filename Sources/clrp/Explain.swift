import ArgumentParser
import Foundation
import Relevance

struct Explain: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Explain decisions: which pixels made the network say this class rather than the others.",
    discussion: """
      Reads images (PNG or JPEG, preprocessed with --preprocess) or .npy tensors already in \
      the model's input layout, runs the model once per rule set, and explains each target \
      with each method. Writes per map a .npy (float32 relevance, the input's shape without \
      the batch axis) and a .png heatmap, and per input a grid picture (rows: methods, \
      columns: targets), to --output-dir (default ./explanations), or one map to --output.

      Methods (Gu, Yang, Tresp 2018 and baselines; Docs/METHODS.md has the formulas):
        lrp              relevance of the target's logit, signed (rules: paper)
        clrp1            max(0, R - R*), dual: the logit shared by all other classes
        clrp2            max(0, R - R*), dual: the target, last-layer weights negated
        sglrp            relevance of the softmax gradient of the target, signed
        gradient         d logit / d input (rules: gradient)
        gradient-input   input x gradient (rules: gradient)
        guided-backprop  guided backpropagation (rules: guided-backprop)
        deconvnet        deconvnet (rules: deconvnet)
      --rules replaces the default rules of every method given; gradient methods check that \
      the rules are theirs.

      Targets: --class K (repeatable), --top K (default 2), --random-classes N --from-top M \
      --seed S (one map for N classes drawn from the top M, their start relevance summed), \
      or neurons inside the network: --neuron NODE:INDEX (a dense unit, or a conv channel \
      whose summed activation is the score), --neuron NODE:C,Y,X (one position), --neurons \
      NODE:I,J,K or NODE:top:N. NODE is a node or value name as `clrp inspect` prints it; \
      lrp, clrp2 and the gradient methods explain neurons. Class names come from --labels or \
      from the model's metadata.

      Heatmaps sum the relevance over channels. Signed maps use a diverging colormap (bwr) \
      centred on 0 and scaled by max|R| (+max|R| is full red, -max|R| full blue); CLRP maps \
      are non-negative and use a sequential one (hot) scaled by max R. --cmap picks another \
      (bwr, seismic, coolwarm, hot, inferno, gray); --overlay blends the heatmap (60 %) with \
      the grayscale input.

      Examples:
        clrp explain Tests/Fixtures/models/shapes-vgg.onnx Tests/Fixtures/shapes/example.png
        clrp explain model.onnx photo.jpg --method clrp2 --class 340 --class 386 --labels labels.txt
        clrp explain model.onnx x.npy --method lrp --class 3 --output lrp.npy
        clrp explain model.onnx photo.jpg --method lrp,clrp2 --neurons /features/features.28/Relu:top:4
        clrp explain model.onnx photo.jpg --method gradient,guided-backprop,deconvnet --top 1 --json
      """)

  @Argument(help: "The ONNX model.") var model: String
  @Argument(help: "Images (PNG, JPEG) or preprocessed .npy tensors (batch axis optional).") var inputs: [String]
  @Option(name: .customLong("method"), help: "Methods, comma-separated (see above).") var methods = "lrp,clrp1,clrp2"
  @Option(help: "Rule preset or YAML file for every method (default: each method's own; see Rules/).") var rules: String?
  @Option(name: .customLong("class"), help: "A class to explain (repeatable).") var classes: [Int] = []
  @Option(help: "Explain the K highest-scoring classes (default 2 when no other target is given).") var top: Int?
  @Option(help: "One map for N classes drawn at random from the top --from-top.") var randomClasses: Int?
  @Option(help: "The pool --random-classes draws from.") var fromTop = 10
  @Option(help: "Seed of --random-classes.") var seed: UInt64 = 0
  @Option(help: "A neuron: NODE:INDEX or NODE:C,Y,X (repeatable).") var neuron: [String] = []
  @Option(help: "Several neurons of one node: NODE:I,J,K or NODE:top:N.") var neurons: String?
  @Option(help: "How images become inputs and the z^B bounds: imagenet, unit, or a YAML file (Docs/RULES.md).")
  var preprocess = "imagenet"
  @Option(help: "CLRP1's dual: uniform (the paper's text) or abs-logits (the published code).") var dual = "uniform"
  @Option(help: "none, or sum: divide target and dual maps by their sums before subtracting (the published code).")
  var normalize = "none"
  @Option(help: "Write the one map asked for to FILE.npy (relevance) or FILE.png (heatmap).") var output: String?
  @Option(help: "Write every map, heatmap and a grid picture per input here (created if missing).") var outputDir: String?
  @Option(help: "Class names, one per line, for pictures and JSON (default: the model's metadata `labels`, if any).") var labels: String?
  @Option(help: "Colormap for every heatmap (bwr, seismic, coolwarm, hot, inferno, gray).") var cmap: String?
  @Flag(help: "Blend heatmaps with the input picture.") var overlay = false
  @Flag(help: "Print predictions and per-map figures as JSON.") var json = false

  func run() throws {
    try reportingErrors {
      let methods = try ExplanationMethod.parseList(self.methods)
      let selection = try targetSelection()
      guard let dual = ContrastOptions.Dual(rawValue: dual) else { throw ModelError("--dual must be uniform or abs-logits, not '\(dual)'") }
      guard let normalize = ContrastOptions.Normalize(rawValue: normalize) else { throw ModelError("--normalize must be none or sum, not '\(normalize)'") }
      if output != nil && outputDir != nil { throw ModelError("give --output or --output-dir, not both") }
      if let output {
        guard output.hasSuffix(".npy") || output.hasSuffix(".png") else {
          throw ModelError(file: output, "--output writes a .npy (relevance) or a .png (heatmap); use --output-dir for everything")
        }
        let targetCount: Int? = { if case .targets(let t) = selection { return t.count }; if case .top(let k) = selection { return k }; if case .randomClasses = selection { return 1 }; return nil }()
        guard inputs.count == 1, methods.count == 1, targetCount == 1 else {
          throw ModelError(file: output, "--output writes one map: give one input, one method and one target (e.g. --class K), or use --output-dir")
        }
      }
      let colormap = try cmap.map(Colormap.named)
      let preprocessing = try Preprocessing.load(nameOrPath: preprocess)
      let model = try loadModel(model)
      var labels = try self.labels.map(readLabels) ?? model.labels
      let stems = inputs.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension }
      if output == nil, let clash = stems.first(where: { s in stems.filter { $0 == s }.count > 1 }) {
        throw ModelError("two inputs are named '\(clash)': their maps would overwrite each other in the output folder; rename one or run them separately")
      }
      let explainer = Explainer(model: model, rules: rules, preprocessing: preprocessing,
                                options: ContrastOptions(dual: dual, normalize: normalize))
      let directory = output == nil ? (outputDir ?? "explanations") : nil
      let shape = try explainer.inputShape()
      let layout = preprocessing.layout ?? .nchw

      var reports: [InputReport] = []
      for (i, path) in inputs.enumerated() {
        if inputs.count > 1 && !json { FileHandle.standardError.write(Data("[\(i + 1)/\(inputs.count)] \(path)\n".utf8)) }
        let (input, picture) = try loadInput(path, shape: shape, preprocessing: preprocessing)
        let result = try explainer.explain(input, methods: methods, targets: selection)
        if let names = labels, names.count != result.logits.count {
          if let file = self.labels { throw ModelError(file: file, "has \(names.count) class names; the model has \(result.logits.count) classes") }
          printNotes(["the model's metadata names \(names.count) classes, its output has \(result.logits.count): class names left out"])
          labels = nil
        }
        func name(_ c: Int) -> String? { labels.map { $0[c] } }
        var report = InputReport(input: path, top: result.top(min(5, result.logits.count)).map {
          Prediction(class: $0.index, label: name($0.index), logit: Double(result.logits[$0.index]), probability: $0.probability)
        }, maps: [], grid: nil, forwardSeconds: result.forwardSeconds, backwardSeconds: result.backwardSeconds)

        if let directory { try makeDirectory(directory) }
        let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        var heatmaps: [Heatmap] = []
        for map in result.maps {
          let style = HeatmapStyle.explaining(map.method, colormap: colormap)
          let heatmap = try Heatmap(map.relevance, layout: layout, style: style, overlay: overlay ? picture : nil)
          heatmaps.append(heatmap)
          var files: (npy: String?, png: String?) = (nil, nil)
          if let output {
            if output.hasSuffix(".npy") { try NPY.write(map.relevance, path: output) } else { try ImageFile.writePNG(heatmap.image, path: output) }
            files = output.hasSuffix(".npy") ? (output, nil) : (nil, output)
          } else if let directory {
            let base = (directory as NSString).appendingPathComponent("\(stem).\(map.method).\(fileName(map.target))")
            try NPY.write(map.relevance, path: base + ".npy")
            try ImageFile.writePNG(heatmap.image, path: base + ".png")
            files = (base + ".npy", base + ".png")
          }
          report.maps.append(MapReport(method: map.method.rawValue, target: map.target.description, targetLabel: targetLabel(map.target, labels),
                                       score: map.score, relevanceSum: map.relevance.data.reduce(0.0) { $0 + Double($1) },
                                       maxAbsRelevance: Double(heatmap.maxAbs), signalSum: map.signalSum, inputSum: map.inputSum,
                                       conservation: map.conservation, signals: map.signals, seconds: map.seconds, npy: files.npy, png: files.png))
        }
        if let directory {
          let grid = gridPicture(result, heatmaps: heatmaps, methods: methods, picture: picture, title: "\((model.path as NSString).lastPathComponent)  \((path as NSString).lastPathComponent)", labels: labels)
          let gridPath = (directory as NSString).appendingPathComponent("\(stem).grid.png")
          try ImageFile.writePNG(grid.render(), path: gridPath)
          report.grid = gridPath
        }
        if !json { printText(report) }
        reports.append(report)
      }
      if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        print(String(decoding: try encoder.encode(ExplainReport(model: model.path, inputs: reports)), as: UTF8.self))
      }
    }
  }

  func targetSelection() throws -> TargetSelection {
    var given = 0
    var targets: [ExplanationTarget] = classes.map { .class($0) }
    if !classes.isEmpty { given += 1 }
    for text in neuron {
      guard case .targets(let t) = try TargetSelection.parseNeurons(text, many: false) else { continue }
      targets += t
    }
    if !neuron.isEmpty { given += 1 }
    var selection: TargetSelection?
    if let neurons {
      selection = try TargetSelection.parseNeurons(neurons, many: true)
      given += 1
    }
    if let top {
      guard top > 0 else { throw ModelError("--top must be positive, got \(top)") }
      selection = .top(top)
      given += 1
    }
    if let randomClasses {
      guard randomClasses > 0, fromTop >= randomClasses else {
        throw ModelError("--random-classes N needs 0 < N <= --from-top (\(fromTop))")
      }
      selection = .randomClasses(count: randomClasses, fromTop: fromTop, seed: seed)
      given += 1
    }
    guard given <= 1 else {
      throw ModelError("give one kind of target: --class, --top, --random-classes, --neuron or --neurons")
    }
    if !targets.isEmpty { return .targets(targets) }
    return selection ?? .top(2)
  }

  /// `3`, or `features.22_Relu-c5` for neurons: safe in a file name.
  func fileName(_ target: ExplanationTarget) -> String {
    switch target {
    case .classes: return target.description
    case .neuron(let n):
      let node = n.node.split(separator: "/").joined(separator: "_").replacingOccurrences(of: ":", with: "_")
      switch n.selection {
      case .index(let i): return "\(node)-\(i)"
      case .position(let c, let y, let x): return "\(node)-c\(c)-y\(y)-x\(x)"
      }
    }
  }

  func targetLabel(_ target: ExplanationTarget, _ labels: [String]?) -> String? {
    guard let labels, case .classes(let classes) = target else { return nil }
    return classes.map { labels[$0] }.joined(separator: " + ")
  }

  func gridPicture(_ result: Explanation, heatmaps: [Heatmap], methods: [ExplanationMethod], picture: RGBImage,
                   title: String, labels: [String]?) -> GridPicture {
    var grid = GridPicture(title: title)
    let targets = Array(result.maps.prefix(result.maps.count / methods.count).map(\.target))
    grid.leadingImage = picture
    grid.rowLabels = methods.map(\.rawValue)
    grid.columnTitles = targets.map { target in
      guard case .classes(let classes) = target else { return target.description }
      let p = classes.reduce(0.0) { $0 + result.probabilities[$1] }
      return (targetLabel(target, labels) ?? target.description) + String(format: " %.2f", p)
    }
    grid.cells = methods.indices.map { m in targets.indices.map { t in heatmaps[m * targets.count + t].image } }
    // Titles get the largest text scale at which the longest fits its cell.
    let layout = grid.layout()
    let longest = grid.columnTitles.map { BitmapFont.textWidth($0, scale: 1) }.max() ?? 1
    grid.textScale = max(1, min(layout.textScale, layout.cellWidth / max(longest, 1)))
    grid.captions = methods.indices.map { m in
      targets.indices.map { t in "max " + Heatmap.compactText(heatmaps[m * targets.count + t].maxAbs) }
    }
    return grid
  }

  func printText(_ report: InputReport) {
    let predictions = report.top.map { p in "\(p.class)" + (p.label.map { " (\($0))" } ?? "") + String(format: " %.3f", p.probability) }
    print("\(report.input): " + predictions.joined(separator: ", "))
    func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count) }
    let targetWidth = min(24, report.maps.map { $0.target.count + ($0.targetLabel.map { $0.count + 1 } ?? 0) }.max() ?? 0)
    for map in report.maps {
      let target = String((map.target + (map.targetLabel.map { " \($0)" } ?? "")).prefix(24))
      let conservation = map.conservation.map { String(format: "%.4f", $0) } ?? "-"
      print("  " + pad(map.method, 15) + pad(target, targetWidth + 1)
            + String(format: "score %10.4g   sum %10.4g   conservation ", map.score, map.relevanceSum) + pad(conservation, 7)
            + ([map.png, map.npy].compactMap { $0 }.first.map { "  -> \($0)" } ?? ""))
    }
    if let grid = report.grid { print("  grid -> \(grid)") }
  }
}

/// The model input for an image file (decoded and preprocessed) or a `.npy` tensor, and a
/// picture of it for overlays and grids.
func loadInput(_ path: String, shape: [Int], preprocessing: Preprocessing) throws -> (Tensor, RGBImage) {
  if path.lowercased().hasSuffix(".npy") {
    let tensor = try loadImageTensor(path, shape: shape)
    guard tensor.rank == 4 else {
      throw ModelError(file: path, "has shape \(tensor.shape); explanations need an image-shaped input [1, C, H, W] or [1, H, W, C]")
    }
    return (tensor, preprocessing.displayImage(from: tensor))
  }
  let image = try ImageFile.read(path: path)
  let tensor = try preprocessing.tensor(from: image, inputShape: shape, source: path)
  return (tensor, preprocessing.displayImage(from: tensor))
}

/// Class names, one per line (blank lines at the end ignored).
func readLabels(_ path: String) throws -> [String] {
  guard let data = FileManager.default.contents(atPath: path) else { throw ModelError(file: path, "no such file or not readable") }
  guard let text = String(data: data, encoding: .utf8) else { throw ModelError(file: path, "is not UTF-8 text") }
  var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
  while lines.last == "" { lines.removeLast() }
  guard !lines.isEmpty else { throw ModelError(file: path, "has no class names (one per line)") }
  return lines
}

func makeDirectory(_ path: String) throws {
  var isDirectory: ObjCBool = false
  if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
    guard isDirectory.boolValue else { throw ModelError(file: path, "exists and is not a directory") }
    return
  }
  do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
    throw ModelError(file: path, "cannot create the output directory: \(error.localizedDescription)")
  }
}

struct ExplainReport: Encodable {
  var model: String
  var inputs: [InputReport]
}

struct InputReport: Encodable {
  var input: String
  var top: [Prediction]
  var maps: [MapReport]
  var grid: String?
  var forwardSeconds: Double
  var backwardSeconds: Double
}

struct Prediction: Encodable {
  var `class`: Int
  var label: String?
  var logit: Double
  var probability: Double
}

struct MapReport: Encodable {
  var method: String
  var target: String
  var targetLabel: String?
  /// The explained score (logit, or neuron activation).
  var score: Double
  /// Σ of the written map.
  var relevanceSum: Double
  var maxAbsRelevance: Double
  var signalSum: Double
  var inputSum: Double
  var conservation: Double?
  var signals: Int
  var seconds: Double
  var npy: String?
  var png: String?
}
