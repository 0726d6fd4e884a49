import Relevance
print(Tensor(zeros: [2]).count)
