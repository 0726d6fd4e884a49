import ArgumentParser
import Foundation
import Relevance

struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure explanations: the pointing game and the ablation study (Gu et al. 2018, Fig. 4 and Table 1).",
    discussion: """
      A dataset is a folder of images with clrp's annotations.json (see Docs/EVALUATION.md), \
      or the ImageNet layout: --data IMAGES --annotations VOC_XML_FOLDER --synsets FILE. \
      Records are appended to OUTPUT/<kind>.jsonl as images complete; rerunning the same \
      command resumes where it stopped. --shard i/n runs every n-th image (from i) so a large \
      run splits over machines; `clrp eval merge` joins the shards.

      Examples:
        clrp eval pointing --model Tests/Fixtures/models/shapes-vgg.onnx --data Tests/Fixtures/shapes --output runs/vgg
        clrp eval ablation --model Tests/Fixtures/models/shapes-vgg.onnx --data Tests/Fixtures/shapes --output runs/vgg
        clrp eval pointing --model m.onnx --data val/ --annotations bbox/ --synsets LOC_synset_mapping.txt --shard 3/16 --output runs/s3
        clrp eval merge runs/s0 runs/s1 runs/s2 --output runs/all
        clrp eval neurons --model Tests/Fixtures/models/vgg16_small.onnx image.png --node /features/features.22/Relu --units top:8
      """,
    subcommands: [Pointing.self, Ablate.self, Neurons.self, Merge.self, Report.self])

  /// Options shared by the pointing game and the ablation study.
  struct Common: ParsableArguments {
    @Option(help: "The ONNX model.") var model: String
    @Option(help: "Dataset folder (annotations.json), or the ImageNet image folder with --annotations and --synsets.")
    var data: String
    @Option(help: "ImageNet layout: folder of Pascal VOC XML files, one per image.") var annotations: String?
    @Option(help: "ImageNet layout: synset file, line i = class i.") var synsets: String?
    @Option(help: "Methods and baselines, comma-separated (center, random are baselines).")
    var methods = "lrp,clrp1,clrp2,sglrp,gradient,guided-backprop,center,random"
    @Option(help: "Rule preset or YAML file for every method (default: each method's own).") var rules: String?
    @Option(help: "imagenet, unit or a YAML file.") var preprocess = "imagenet"
    @Option(help: "CLRP1's dual: uniform or abs-logits.") var dual = "uniform"
    @Option(help: "none or sum.") var normalize = "none"
    @Option(help: "Folder for records and summaries.") var output = "evaluation"
    @Option(help: "Evaluate the first N images (of this shard) only.") var limit: Int?
    @Option(help: "i/n: evaluate the images whose index is i modulo n.") var shard: String?
    @Flag(help: "Print the summary as JSON.") var json = false
    @Flag(help: "No progress bar.") var quiet = false
    @Option(help: "Images evaluated at once, each on one BLAS thread (default: the number of cores); 1 gives every image all BLAS threads.")
    var jobs: Int?

    func loadDataset() throws -> Dataset { try Evaluator.dataset(of: settings(kind: "")) }

    func parsedShard() throws -> (index: Int, count: Int)? {
      guard let shard else { return nil }
      let parts = shard.split(separator: "/").map { Int($0) }
      guard parts.count == 2, let i = parts[0], let n = parts[1], n > 0, (0..<n).contains(i) else {
        throw ModelError("--shard must be i/n with 0 <= i < n, not '\(shard)'")
      }
      return (i, n)
    }

    func methodNames() throws -> [String] {
      let names = methods.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
      for name in names where ExplanationMethod(rawValue: name) == nil && BaselineMap(rawValue: name) == nil {
        throw ModelError("unknown method '\(name)' (methods: \(ExplanationMethod.allCases.map(\.rawValue).joined(separator: ", ")); baselines: center, random)")
      }
      guard !names.isEmpty else { throw ModelError("--methods is empty") }
      return names
    }

    func settings(kind: String, energies: [Double]? = nil, tolerance: Double? = nil, patch: Int? = nil) throws -> EvaluationSettings {
      EvaluationSettings(kind: kind, model: model, dataset: data, annotations: annotations, synsets: synsets, methods: try methodNames(), rules: rules, preprocess: preprocess,
                         dual: dual, normalize: normalize, energies: energies, tolerance: tolerance, patch: patch, shard: shard)
    }

    func explainer() throws -> Explainer {
      guard let dual = ContrastOptions.Dual(rawValue: dual) else { throw ModelError("--dual must be uniform or abs-logits") }
      guard let normalize = ContrastOptions.Normalize(rawValue: normalize) else { throw ModelError("--normalize must be none or sum") }
      return Explainer(model: try loadModel(model), rules: rules, preprocessing: try Preprocessing.load(nameOrPath: preprocess),
                       options: ContrastOptions(dual: dual, normalize: normalize))
    }

    /// Runs `evaluator` over the dataset (this shard, up to --limit), appending records to
    /// OUTPUT/<kind>.jsonl, resuming from what is there; writes the summary JSON and CSV.
    func run(_ evaluator: Evaluator, dataset: Dataset) throws {
      let settings = evaluator.settings
      let store = try RecordStore(directory: output, kind: settings.kind, settings: settings)
      var indices = Array(dataset.images.indices)
      if let (i, n) = try parsedShard() { indices = indices.filter { $0 % n == i } }
      if let limit {
        guard limit > 0 else { throw ModelError("--limit must be positive") }
        indices = Array(indices.prefix(limit))
      }
      let done = Set(store.records.map(\.index))
      let todo = indices.filter { !done.contains($0) }
      let progress = ProgressBar(total: todo.count, label: settings.kind, quiet: quiet || json)
      let workers = min(max(1, jobs ?? ProcessInfo.processInfo.activeProcessorCount), max(1, todo.count))
      guard (jobs ?? 1) > 0 else { throw ModelError("--jobs must be positive") }
      if workers > 1 { BLASThreads.set(1) }
      // Workers take the next image in turn; records are appended (and flushed) as they complete.
      let lock = NSLock()
      var next = 0
      var failure: Error?
      DispatchQueue.concurrentPerform(iterations: workers) { _ in
        while true {
          let position: Int? = lock.withLock {
            guard failure == nil, next < todo.count else { return nil }
            defer { next += 1 }
            return next
          }
          guard let position else { return }
          let record = evaluator.evaluate(index: todo[position])
          lock.withLock {
            do { try store.append(record) } catch { failure = failure ?? error }
            progress.advance(failed: record.error != nil)
          }
        }
      }
      if let failure { throw failure }
      progress.finish()
      let records = store.records.filter { Set(indices).contains($0.index) }
      let summary = EvaluationSummary(settings: settings, records: records, skippedAtLoad: dataset.skipped.count)
      try store.writeSummary(summary)
      try report(summary, store: store)
    }

    func report(_ summary: EvaluationSummary, store: RecordStore) throws {
      if json {
        try printEvaluationJSON(summary)
        return
      }
      print("\(summary.images) images evaluated, \(summary.failed) failed, \(summary.skippedAtLoad) without annotations; records in \(store.recordsPath)")
      for name in summary.settings.methods {
        guard let m = summary.methods[name] else { continue }
        if let accuracy = m.accuracy {
          let curve = accuracy.map { String(format: "%.3f", $0) }.joined(separator: " ")
          print("  " + name.padding(toLength: 16, withPad: " ", startingAt: 0) + "energy " + curve + String(format: "   point %.3f", m.pointAccuracy ?? 0) + "   (\(m.cases) cases)")
        }
        if let drop = m.meanDrop {
          print("  " + name.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: "mean drop %.4f", drop) + "   (\(m.cases) cases)")
        }
      }
      print("summary: \(store.summaryPath), \(store.csvPath)")
    }
  }

  struct Pointing: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "The pointing game: does the map's top energy fall inside the class's boxes?",
      discussion: """
        For every image and every annotated class, each method's map for that class (summed over \
        channels, positive part) keeps the smallest set of highest pixels holding k of its \
        positive energy (pixels tied with the last one kept are kept too); a hit when every kept \
        pixel lies inside a box of that class. Also the classic game: the maximum point within \
        --tolerance pixels of a box. `center` and `random` maps are baselines. Boxes are mapped \
        through the preprocessing's resize and crop into input pixels.
        """)
    @OptionGroup var common: Common
    @Option(help: "Energy fractions, comma-separated.") var energies = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0"
    @Option(help: "Tolerance of the classic game in input pixels (Zhang et al.: 15 at 224 px).") var tolerance = 0.0

    func run() throws {
      try reportingErrors {
        let energies = try energies.split(separator: ",").map { text -> Double in
          guard let e = Double(text.trimmingCharacters(in: .whitespaces)), e > 0, e <= 1 else {
            throw ModelError("--energies are fractions in (0, 1], not '\(text)'")
          }
          return e
        }
        guard tolerance >= 0 else { throw ModelError("--tolerance must be >= 0") }
        let dataset = try common.loadDataset()
        let settings = try common.settings(kind: "pointing", energies: energies, tolerance: tolerance)
        try common.run(Evaluator(explainer: common.explainer(), dataset: dataset, settings: settings), dataset: dataset)
      }
    }
  }

  struct Ablate: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "ablation",
      abstract: "The ablation study: how much does the class score drop when the most relevant spot is replaced?",
      discussion: """
        For every image and annotated class: each method's map for the class, its maximum point \
        (summed over channels), a --patch × --patch square there replaced by the dataset's mean \
        input at the same positions, and the drop of the class logit. `random` puts the patch at \
        a random position (seeded per image and class). The default patch, 9 pixels, is 1/7 of a \
        64-pixel input, as the paper's 32-pixel patch is of 224 pixels. The mean input is \
        computed once and kept in OUTPUT/mean_input.npy.
        """)
    @OptionGroup var common: Common
    @Option(help: "Side of the square patch, in input pixels.") var patch = 9

    func run() throws {
      try reportingErrors {
        guard patch > 0 else { throw ModelError("--patch must be positive") }
        let dataset = try common.loadDataset()
        let settings = try common.settings(kind: "ablation", patch: patch)
        let explainer = try common.explainer()
        try makeDirectory(common.output)
        let meanPath = (common.output as NSString).appendingPathComponent("mean_input.npy")
        let shape = try explainer.inputShape()
        let mean: Tensor
        if FileManager.default.fileExists(atPath: meanPath), let m = try? NPY.read(path: meanPath), m.shape == shape {
          mean = m
        } else {
          let progress = ProgressBar(total: dataset.images.count, label: "mean input", quiet: common.quiet || common.json)
          mean = try Evaluator.meanInput(dataset: dataset, preprocessing: explainer.preprocessing ?? .imagenet, inputShape: shape) { _ in
            progress.advance(failed: false)
          }
          progress.finish()
          try NPY.write(mean, path: meanPath)
        }
        try common.run(Evaluator(explainer: explainer, dataset: dataset, settings: settings, meanInput: mean), dataset: dataset)
      }
    }
  }

  struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Join the records of shards (or interrupted runs) into one result.",
      discussion: """
        Each RUN is an --output folder of `clrp eval pointing` or `ablation`. Their settings must \
        agree (model, dataset, methods, energies, patch, ...; only the shard may differ); an \
        image evaluated by two runs must have the same record in both.

        Example:
          clrp eval merge runs/s0 runs/s1 --output runs/all
        """)
    @Argument(help: "Output folders of the runs to merge.") var runs: [String]
    @Option(help: "Folder for the merged records and summary.") var output: String
    @Flag(help: "Print the summary as JSON.") var json = false

    func run() throws {
      try reportingErrors {
        guard !runs.isEmpty else { throw ModelError("give the output folders of the runs to merge") }
        var settings: EvaluationSettings?
        var byIndex: [Int: EvaluationRecord] = [:]
        for run in runs {
          let loaded = try RecordStore.open(directory: run)
          if let s = settings, s.unsharded != loaded.settings.unsharded {
            throw ModelError(file: run, "was made with other settings than \(runs[0]) (\(RecordStore.difference(s.unsharded, loaded.settings.unsharded))); only the shard may differ")
          }
          settings = settings ?? loaded.settings
          for record in loaded.records {
            if let existing = byIndex[record.index], existing != record {
              throw ModelError(file: run, "image \(record.index) (\(record.image)) has a different record than in another run")
            }
            byIndex[record.index] = record
          }
        }
        let merged = settings!.unsharded
        let store = try RecordStore(directory: output, kind: merged.kind, settings: merged, fresh: true)
        for index in byIndex.keys.sorted() { try store.append(byIndex[index]!) }
        let summary = EvaluationSummary(settings: merged, records: store.records)
        try store.writeSummary(summary)
        if json { try printEvaluationJSON(summary) } else {
          print("merged \(store.records.count) records from \(runs.count) runs into \(store.recordsPath)")
        }
      }
    }
  }

  struct Neurons: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Which image parts drive a unit rather than its neighbours (the paper's Fig. 5).",
      discussion: """
        For the top units of NODE (dense units by value, conv channels by summed activation), the \
        lrp and clrp2 maps of each unit; then for each map the --patch square at its maximum is \
        replaced by the mean input (default zeros: the preprocessing's mean colour, or \
        --mean-input FILE.npy, e.g. the mean_input.npy of `clrp eval ablation`) and the score \
        change of every studied unit is measured. Writes OUTPUT/<stem>.neurons.csv \
        (method, ablated_unit, unit, score_before, change) and OUTPUT/<stem>.neurons.png: one row \
        per method, one column per unit, and last the matrix of changes (row: ablated map's \
        unit, column: unit measured; red: the unit lost, blue: it gained).

        Example:
          clrp eval neurons --model Tests/Fixtures/models/vgg16_small.onnx Tests/Fixtures/relevance/vgg16_small.input.npy --node /features/features.22/Relu --units top:4
        """)
    @Option(help: "The ONNX model.") var model: String
    @Argument(help: "An image (PNG, JPEG) or a preprocessed .npy input.") var input: String
    @Option(help: "The node (or value) whose units are studied, as `clrp inspect` names it.") var node: String
    @Option(help: "top:N, the N highest-scoring units.") var units = "top:8"
    @Option(help: "Side of the square patch, in input pixels.") var patch = 9
    @Option(help: "The mean input replacing the patch (.npy, model layout); default zeros.") var meanInput: String?
    @Option(help: "Rule preset or YAML file (default: paper).") var rules: String?
    @Option(help: "imagenet, unit or a YAML file.") var preprocess = "imagenet"
    @Option(help: "Folder for the CSV and the picture.") var output = "evaluation"

    func run() throws {
      try reportingErrors {
        guard units.hasPrefix("top:"), let count = Int(units.dropFirst(4)), count > 0 else {
          throw ModelError("--units must be top:N with N > 0, not '\(units)'")
        }
        guard patch > 0 else { throw ModelError("--patch must be positive") }
        let preprocessing = try Preprocessing.load(nameOrPath: preprocess)
        let explainer = Explainer(model: try loadModel(model), rules: rules, preprocessing: preprocessing)
        let shape = try explainer.inputShape()
        let (x, display) = try loadInput(input, shape: shape, preprocessing: preprocessing)
        let replacement = try meanInput.map { try loadImageTensor($0, shape: shape) } ?? Tensor(zeros: shape)
        let study = try NeuronStudy.run(explainer: explainer, input: x, node: node, count: count, patch: patch, mean: replacement)
        try makeDirectory(output)
        let stem = (output as NSString).appendingPathComponent(((input as NSString).lastPathComponent as NSString).deletingPathExtension)
        try writeAtomically(Data(study.csv.utf8), to: stem + ".neurons.csv")
        try ImageFile.writePNG(try picture(of: study, input: display, layout: preprocessing.layout ?? .nchw), path: stem + ".neurons.png")
        for (m, method) in study.methods.enumerated() {
          let diagonal = study.units.indices.map { study.changes[m][$0][$0] }
          let offDiagonal = study.units.indices.flatMap { i in study.units.indices.filter { $0 != i }.map { study.changes[m][i][$0] } }
          print(method.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
                + String(format: "mean change of the unit explained %.4g, of the others %.4g", mean(diagonal), mean(offDiagonal)))
        }
        print("wrote \(stem).neurons.csv and \(stem).neurons.png")
      }
    }

    func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }

    func picture(of study: NeuronStudy, input: RGBImage, layout: Preprocessing.Layout) throws -> RGBImage {
      var grid = GridPicture(title: "\((model as NSString).lastPathComponent)  \(node)")
      grid.leadingImage = input
      grid.rowLabels = study.methods.map(\.rawValue)
      grid.columnTitles = zip(study.units, study.scores).map { "unit \($0) " + Heatmap.compactText(Float($1)) } + ["changes"]
      let n = study.units.count
      grid.cells = try study.methods.indices.map { m in
        var row = try study.maps[m].map { map -> RGBImage? in
          try Heatmap(map, layout: layout, style: HeatmapStyle(scale: study.methods[m].isContrastive ? .positive : .signed)).image
        }
        // The change matrix as an n×n heatmap scaled to the cell size.
        let matrix = Tensor(shape: [n, n], data: study.changes[m].flatMap { $0.map { Float($0) } })
        let factor = max(1, input.width / n)
        row.append(try Heatmap(matrix, style: HeatmapStyle(scale: .signed, upscale: factor)).image)
        return row
      }
      return grid.render()
    }
  }
}

/// `{"methods": {NAME: {"energies": [...], "accuracy": [...], "point_accuracy": x}}, "images": n, ...}`.
func printEvaluationJSON(_ summary: EvaluationSummary) throws {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
  encoder.keyEncodingStrategy = .convertToSnakeCase
  print(String(decoding: try encoder.encode(summary), as: UTF8.self))
}

/// The records of one run: `<kind>.settings.json`, `<kind>.jsonl` (one record per line, appended
/// as images complete), `<kind>.summary.json` and `<kind>.csv`.
final class RecordStore {
  let directory: String
  let kind: String
  let settings: EvaluationSettings
  private(set) var records: [EvaluationRecord] = []
  private var handle: FileHandle?

  var recordsPath: String { (directory as NSString).appendingPathComponent("\(kind).jsonl") }
  var settingsPath: String { (directory as NSString).appendingPathComponent("\(kind).settings.json") }
  var summaryPath: String { (directory as NSString).appendingPathComponent("\(kind).summary.json") }
  var csvPath: String { (directory as NSString).appendingPathComponent("\(kind).csv") }

  /// Opens (or starts) the run in `directory`; an existing run must have the same settings.
  /// `fresh`: replace what is there.
  init(directory: String, kind: String, settings: EvaluationSettings, fresh: Bool = false) throws {
    self.directory = directory
    self.kind = kind
    self.settings = settings
    try makeDirectory(directory)
    if !fresh, FileManager.default.fileExists(atPath: settingsPath) {
      let existing = try RecordStore.readSettings(settingsPath)
      guard existing == settings else {
        throw ModelError(file: directory, "holds a \(kind) run with other settings (\(RecordStore.difference(existing, settings))); use another --output or delete it")
      }
      records = try RecordStore.readRecords(recordsPath)
      // Rewritten without a line an interruption cut off, so appends start on a fresh line.
      try writeAtomically(Data(try records.map { try RecordStore.line($0) }.joined()), to: recordsPath)
    } else {
      try writeAtomically(RecordStore.encoder().encode(settings), to: settingsPath)
      try writeAtomically(Data(), to: recordsPath)
    }
    guard let handle = FileHandle(forWritingAtPath: recordsPath) else { throw ModelError(file: recordsPath, "cannot be opened for writing") }
    handle.seekToEndOfFile()
    self.handle = handle
  }

  /// A finished or interrupted run, for merging.
  static func open(directory: String) throws -> (settings: EvaluationSettings, records: [EvaluationRecord]) {
    for kind in ["pointing", "ablation"] {
      let settings = (directory as NSString).appendingPathComponent("\(kind).settings.json")
      if FileManager.default.fileExists(atPath: settings) {
        return (try readSettings(settings), try readRecords((directory as NSString).appendingPathComponent("\(kind).jsonl")))
      }
    }
    throw ModelError(file: directory, "holds no evaluation run (no pointing.settings.json or ablation.settings.json)")
  }

  /// Appends one record as one line and flushes it, so an interruption loses at most the image
  /// in progress.
  func append(_ record: EvaluationRecord) throws {
    handle?.write(try RecordStore.line(record))
    records.append(record)
  }

  /// A record as one line of JSON with its newline.
  static func line(_ record: EvaluationRecord) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var line = try encoder.encode(record)
    line.append(0x0A)
    return line
  }

  func writeSummary(_ summary: EvaluationSummary) throws {
    try writeAtomically(RecordStore.encoder().encode(summary), to: summaryPath)
    try writeAtomically(Data(summary.csv.utf8), to: csvPath)
  }

  static func encoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    return encoder
  }

  static func readSettings(_ path: String) throws -> EvaluationSettings {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    guard let data = FileManager.default.contents(atPath: path) else { throw ModelError(file: path, "not readable") }
    do { return try decoder.decode(EvaluationSettings.self, from: data) } catch {
      throw ModelError(file: path, "is not a clrp evaluation settings file")
    }
  }

  /// The records of a JSON-lines file; a last line cut off by an interruption is dropped.
  static func readRecords(_ path: String) throws -> [EvaluationRecord] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    let lines = data.split(separator: 0x0A, omittingEmptySubsequences: true)
    var records: [EvaluationRecord] = []
    for (i, line) in lines.enumerated() {
      do { records.append(try JSONDecoder().decode(EvaluationRecord.self, from: Data(line))) } catch {
        if i == lines.count - 1 { break }
        throw ModelError(file: path, "line \(i + 1) is not a record")
      }
    }
    return records
  }

  static func difference(_ a: EvaluationSettings, _ b: EvaluationSettings) -> String {
    let mirrorA = Mirror(reflecting: a), mirrorB = Mirror(reflecting: b)
    let differing = zip(mirrorA.children, mirrorB.children).filter { "\($0.value)" != "\($1.value)" }.compactMap(\.0.label)
    return differing.isEmpty ? "same" : "differ in " + differing.joined(separator: ", ")
  }
}

/// A progress bar on stderr with rate and ETA, drawn only when stderr is a terminal.
final class ProgressBar {
  let total: Int
  let label: String
  let enabled: Bool
  let start = Date()
  var done = 0
  var failed = 0

  init(total: Int, label: String, quiet: Bool) {
    self.total = total
    self.label = label
    enabled = !quiet && isatty(2) == 1 && total > 0
  }

  func advance(failed didFail: Bool) {
    done += 1
    if didFail { failed += 1 }
    guard enabled else { return }
    let elapsed = Date().timeIntervalSince(start)
    let rate = Double(done) / max(elapsed, 1e-9)
    let eta = Double(total - done) / max(rate, 1e-9)
    let width = 30, filled = width * done / total
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    let text = "\r\(label) [\(bar)] \(done)/\(total)  " + String(format: "%.1f/s", rate) + "  ETA \(format(eta))"
      + (failed > 0 ? "  \(failed) failed" : "")
    FileHandle.standardError.write(Data(text.utf8))
  }

  func finish() {
    guard enabled else { return }
    FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
  }

  private func format(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
  }
}
