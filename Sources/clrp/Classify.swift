import ArgumentParser
import Foundation
import Relevance

struct Classify: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the forward pass and print the top classes.",
    discussion: """
      INPUT is a float32 .npy tensor, already preprocessed, in the model's own input layout
      (e.g. [3, 224, 224] or [N, 3, 224, 224] for NCHW models, [224, 224, 3] for NHWC ones);
      the batch axis is optional. A trailing Softmax is removed, so scores are logits.

      Example:
        clrp classify Tests/Fixtures/models/vgg16_small.onnx Tests/Fixtures/reference/vgg16_small.input.npy --top 3
      """)

  @Argument(help: "The ONNX model.") var model: String
  @Argument(help: "One or more .npy input tensors.") var inputs: [String]
  @Option(help: "How many classes to list per image.") var top = 5
  @Option(help: "Write the logits to this .npy file (shape [C] for one image, [N, C] for several).")
  var output: String?
  @Flag(help: "Print the top classes as JSON.") var json = false
  @Option(help: "Memory budget, e.g. 8G or 512M (default: 75 % of the machine's memory); larger models or batches are refused.")
  var maxMemory: String?

  func run() throws {
    try reportingErrors {
      guard top > 0 else { throw ModelError("--top must be positive, got \(top)") }
      try applyMemoryBudget(maxMemory)
      if let output { try refuseOverwriting(output, [self.model] + inputs) }
      let model = try loadModel(model)
      let declaredRank = model.imported.declaredInputShape.count
      var images: [Tensor] = []
      for path in inputs {
        let tensor = try readInputTensor(path)
        if tensor.rank == declaredRank - 1 {
          images.append(tensor)
        } else if tensor.rank == declaredRank {
          let per = tensor.count / max(tensor.shape[0], 1)
          for n in 0..<tensor.shape[0] {
            images.append(Tensor(shape: Array(tensor.shape.dropFirst()), data: Array(tensor.data[(n * per)..<((n + 1) * per)])))
          }
        } else {
          throw ModelError(file: path, "has shape \(tensor.shape); the model input '\(model.imported.input)' has rank \(declaredRank) (\(model.imported.declaredInputShape)), batch axis optional")
        }
      }
      guard !images.isEmpty else { throw ModelError("no images in the inputs") }
      let (logits, graph) = try Classifier(model: model).logits(images)
      if let graph { printNotes(graph.notes) }
      if let output {
        try NPY.write(logits.count == 1 ? logits[0] : Tensor(shape: [logits.count, logits[0].count], data: logits.flatMap(\.data)), path: output)
      }
      var report: [[String: Any]] = []
      for (i, scores) in logits.enumerated() {
        let ranked = scores.data.enumerated().sorted { $0.element > $1.element }.prefix(top)
        report.append(["image": i, "top": ranked.map { ["class": $0.offset, "score": Double($0.element)] }])
        if !json {
          print(logits.count > 1 ? "image \(i):" : "top \(ranked.count) of \(scores.count) classes:")
          for (rank, entry) in ranked.enumerated() {
            print(String(format: "  %2d. class %-6d %12.6f", rank + 1, entry.offset, entry.element))
          }
        }
      }
      if json {
        try printJSON(report.count == 1 ? report[0] : report)
      }
    }
  }
}
