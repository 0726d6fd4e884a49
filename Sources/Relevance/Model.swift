import Foundation
@_exported import TensorKernels

/// An imported model: the graph as the file holds it, and canonical graphs and compiled plans
/// for the input shapes it is run with.
public struct Model: Sendable {
  public let path: String
  public let imported: Graph

  public init(path: String) throws {
    self.path = path
    self.imported = try ONNXImporter.load(path: path)
  }

  /// The declared input shape for a batch of `batch` images; an error names a symbolic
  /// non-batch dimension.
  public func inputShape(batch: Int) throws -> [Int] {
    guard let shape = Canonicalizer.inputShape(of: imported, batch: batch) else {
      throw ModelError(file: path, "input '\(imported.input)' has symbolic non-batch dimensions \(imported.declaredInputShape); give an input tensor to fix them")
    }
    return shape
  }

  /// The canonical graph for inputs of the given shape.
  public func canonical(inputShape: [Int]) throws -> Graph {
    try Canonicalizer.canonicalize(imported, inputShape: inputShape)
  }

  /// A forward plan for inputs of the given shape.
  public func forwardPlan(inputShape: [Int]) throws -> ForwardPlan {
    try ForwardPlan(graph: canonical(inputShape: inputShape))
  }

  /// Class names the model file carries in its metadata (`labels`, `class_names` or `classes`:
  /// a JSON list of strings, or one name per line), nil when it has none.
  public var labels: [String]? {
    for key in ["labels", "class_names", "classes"] {
      guard let text = imported.metadata[key]?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { continue }
      if text.hasPrefix("["), let list = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] { return list }
      return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    }
    return nil
  }

  /// Whether the model fixes its batch size (then batches run one image at a time).
  public var fixedBatch: Int? {
    if case .fixed(let n)? = imported.declaredInputShape.first { return n }
    return nil
  }
}
