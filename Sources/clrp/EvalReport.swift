import ArgumentParser
import Foundation
import Relevance

extension Eval {
  struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Make one self-contained HTML page of evaluation runs: plots, tables, and the cases where methods disagree.",
      discussion: """
        Each RUN is an --output folder of `clrp eval pointing` or `ablation` (or of `merge`); \
        give several (e.g. one per model) for one page with a section per run. OUTPUT/index.html \
        needs no network: plots are inline SVG, pictures are PNG data URIs.

        Pointing runs show accuracy against energy per method (Gu et al. 2018, Fig. 4), its \
        table and the classic pointing game; ablation runs the mean logit drop per method \
        (Table 1). For pointing runs the --gallery cases (image, class) where the methods \
        disagree most (variance over methods of the share of energies hit) are explained \
        again with the run's model, dataset and settings and shown with the class's boxes and \
        a heatmap per method. When the model or dataset is no longer where the settings say \
        (paths are as given to the run, relative to where it started), the page says so and \
        shows the recorded hits only.

        Example:
          clrp eval report runs/vgg runs/vgg-ablation runs/resnet --output runs/report
        """)

    @Argument(help: "Output folders of pointing or ablation runs.") var runs: [String]
    @Option(help: "Folder for index.html.") var output: String
    @Option(help: "Cases in each pointing run's gallery (0: none).") var gallery = 8
    @Option(help: "The page's title.") var title = "clrp evaluation report"

    func run() throws {
      try reportingErrors {
        guard !runs.isEmpty else { throw ModelError("give the output folders of the runs to report") }
        guard gallery >= 0 else { throw ModelError("--gallery must be 0 or more") }
        var sections: [ReportSection] = []
        for folder in runs {
          for (kind, settings) in try Report.kinds(in: folder) {
            let records = try RecordStore.readRecords((folder as NSString).appendingPathComponent("\(kind).jsonl"))
            let summary = try Report.summary(folder: folder, kind: kind, settings: settings, records: records)
            var section = ReportSection(folder: folder, summary: summary)
            if kind == "pointing" && gallery > 0 {
              let cases = DisagreementCase.rank(records, methods: settings.methods, top: gallery)
              if !cases.isEmpty {
                if let evaluator = evaluator(settings: settings, note: &section.galleryNote) {
                  section.gallery = cases.map { evaluator.galleryItem($0) }
                } else {
                  section.gallery = cases.map { GalleryItem($0, className: nil, note: nil) }
                }
              }
            }
            sections.append(section)
          }
        }
        try makeDirectory(output)
        let path = (output as NSString).appendingPathComponent("index.html")
        try writeAtomically(Data(try HTMLReport.render(title: title, sections: sections).utf8), to: path)
        let pictures = sections.reduce(0) { $0 + $1.gallery.filter { $0.input != nil }.count }
        print("report of \(sections.count) run\(sections.count == 1 ? "" : "s") (\(pictures) gallery cases explained) in \(path)")
      }
    }

    /// The kinds of run a folder holds, with their settings; a folder holding none is an error.
    static func kinds(in folder: String) throws -> [(String, EvaluationSettings)] {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw ModelError(file: folder, "no such folder (give output folders of clrp eval pointing, ablation or merge)")
      }
      let found = try ["pointing", "ablation"].compactMap { kind -> (String, EvaluationSettings)? in
        let path = (folder as NSString).appendingPathComponent("\(kind).settings.json")
        return FileManager.default.fileExists(atPath: path) ? (kind, try RecordStore.readSettings(path)) : nil
      }
      guard !found.isEmpty else {
        throw ModelError(file: folder, "is not an evaluation run (no pointing.settings.json or ablation.settings.json)")
      }
      return found
    }

    /// The run's `<kind>.summary.json`, or for a run interrupted before writing it, the summary
    /// of its records.
    static func summary(folder: String, kind: String, settings: EvaluationSettings, records: [EvaluationRecord]) throws -> EvaluationSummary {
      let path = (folder as NSString).appendingPathComponent("\(kind).summary.json")
      guard let data = FileManager.default.contents(atPath: path) else { return EvaluationSummary(settings: settings, records: records) }
      let decoder = JSONDecoder()
      decoder.keyDecodingStrategy = .convertFromSnakeCase
      do { return try decoder.decode(EvaluationSummary.self, from: data) } catch {
        throw ModelError(file: path, "is not a clrp evaluation summary")
      }
    }

    /// An evaluator with the run's model, dataset and settings, or nil with `note` saying what
    /// could not be loaded.
    func evaluator(settings: EvaluationSettings, note: inout String?) -> Evaluator? {
      do {
        guard FileManager.default.fileExists(atPath: settings.model) else {
          throw ModelError(file: settings.model, "the model is no longer there (paths are relative to where the run started)")
        }
        guard let dual = ContrastOptions.Dual(rawValue: settings.dual),
              let normalize = ContrastOptions.Normalize(rawValue: settings.normalize) else {
          throw ModelError("the settings' dual '\(settings.dual)' or normalize '\(settings.normalize)' is unknown")
        }
        let explainer = Explainer(model: try loadModel(settings.model), rules: settings.rules,
                                  preprocessing: try Preprocessing.load(nameOrPath: settings.preprocess),
                                  options: ContrastOptions(dual: dual, normalize: normalize))
        let dataset = try Evaluator.dataset(of: settings)
        return Evaluator(explainer: explainer, dataset: dataset, settings: settings)
      } catch {
        note = "The gallery shows the recorded results only: \(error)"
        return nil
      }
    }
  }
}
