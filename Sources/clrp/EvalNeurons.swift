import ArgumentParser
import Foundation
import Relevance

extension Eval {
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
