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
    @Option(help: "Images evaluated at once, each on one thread (default: clrp's thread count, CLRP_THREADS or the CPUs the process may use); 1 gives every image all threads.")
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
      let workers = min(max(1, jobs ?? Kernels.threadCount), max(1, todo.count))
      guard (jobs ?? 1) > 0 else { throw ModelError("--jobs must be positive") }
      // One image per worker thread; each runs its kernels and GEMMs single-threaded.
      if workers > 1 { Kernels.threadCount = 1 }
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
}

/// `{"methods": {NAME: {"energies": [...], "accuracy": [...], "point_accuracy": x}}, "images": n, ...}`.
func printEvaluationJSON(_ summary: EvaluationSummary) throws {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
  encoder.keyEncodingStrategy = .convertToSnakeCase
  print(String(decoding: try encoder.encode(summary), as: UTF8.self))
}
