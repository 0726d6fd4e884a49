import Foundation

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
