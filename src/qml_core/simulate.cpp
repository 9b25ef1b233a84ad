#include "simulate.hpp"

#include <algorithm>
#include <omp.h>
#include <vector>

namespace qml {
namespace {

// Rows split by width: narrow ones run in parallel over rows, wide ones in parallel
// inside the kernels.
struct RowSplit {
  std::vector<std::int64_t> narrow, wide;
  int widest_narrow = 0, widest_wide = 0;

  explicit RowSplit(const Batch& b) {
    for (std::size_t r = 0; r < b.num_rows(); ++r) {
      const int n = b.row_qubits[r];
      if (n == 0) continue;
      if (n < kRowParallelMaxQubits) {
        narrow.push_back(std::int64_t(r));
        widest_narrow = std::max(widest_narrow, n);
      } else {
        wide.push_back(std::int64_t(r));
        widest_wide = std::max(widest_wide, n);
      }
    }
  }

  // Calls run(row, parallel_kernels, work) for every row; `work` is a buffer of
  // `copies` states of the row's width, owned by the calling thread.
  template <class Run>
  void each(int copies, Run run) const {
    if (!narrow.empty()) {
#pragma omp parallel num_threads(thread_count())
      {
        std::vector<cfloat> work(std::size_t(copies) << widest_narrow);
#pragma omp for schedule(dynamic, 1)
        for (std::size_t k = 0; k < narrow.size(); ++k) run(narrow[k], false, work.data());
      }
    }
    if (!wide.empty()) {
      std::vector<cfloat> work(std::size_t(copies) << widest_wide);
      for (std::int64_t r : wide) run(r, true, work.data());
    }
  }
};

void zero_state(cfloat* state, int n) {
  std::fill(state, state + (std::size_t(1) << n), cfloat(0.f, 0.f));
  state[0] = cfloat(1.f, 0.f);
}

void run_row(const Batch& b, const Kernels& k, std::int64_t r, cfloat* state, bool parallel) {
  const int n = b.row_qubits[r];
  cfloat scratch[kMaxDim * kMaxDim];
  zero_state(state, n);
  for (std::int64_t piece = b.row_pieces[r]; piece < b.row_pieces[r + 1]; ++piece) {
    const std::int64_t program = b.pieces[piece * kNumPieceFields + kProgram];
    for (std::int64_t op = b.program_ops[program]; op < b.program_ops[program + 1]; ++op)
      k.apply(state, n, gate_of(b, piece, op, n, scratch), false, parallel);
  }
}

// Adds d loss / d phase for each term of parameterized op `op` from its overlap O,
// where d loss = 2 Re sum(dU * O). With U = S_last ... S_0, step j sees
// M_j = L_j^T O R_j^T (L_j, R_j the products of the steps after and before it), and
// since the steps are unitary, M_last = O U^T conj(S_last) and
// M_{j-1} = S_j^T M_j conj(S_{j-1}).
void add_phase_gradients(const Batch& b, std::int64_t piece, std::int64_t op,
                         const cdouble* overlap, const cfloat* unitary, Step* steps,
                         double* gradients) {
  const std::int64_t* f = b.ops.data + op * kNumOpFields;
  const int dim = 1 << f[kNumTargets];
  const int count = bind_steps(b, piece, op, steps);
  cdouble m[kMaxDim * kMaxDim];
  for (int i = 0; i < dim; ++i)  // O U^T
    for (int j = 0; j < dim; ++j) {
      cdouble total = 0.0;
      for (int k = 0; k < dim; ++k) total += overlap[i * dim + k] * cdouble(unitary[j * dim + k]);
      m[i * dim + j] = total;
    }
  multiply_right(m, steps[count - 1], true, dim);
  const double* phases = b.phases.data + b.pieces[piece * kNumPieceFields + kPhaseBase];
  std::int64_t t = f[kTermStart] + f[kNumTerms] - 1;
  for (int j = count - 1; j >= 0; --j) {
    for (; t >= f[kTermStart] && b.terms[t * kNumTermFields + kStep] == j; --t) {
      const std::int64_t* term = b.terms.data + t * kNumTermFields;
      if (term[kPhaseColumn] < 0) continue;
      const cfloat* e = b.matrices.data + term[kTermMatrix];
      cdouble total = 0.0;
      if (term[kPlace] < 0) {
        for (int k = 0; k < dim * dim; ++k) total += cdouble(e[k]) * m[k];
      } else {  // E on one target: contract with M traced over the other targets
        const int bit = dim / 2 >> term[kPlace];
        for (int r = 0; r < dim; ++r)
          for (int c = 0; c < dim; ++c)
            if ((r & ~bit) == (c & ~bit))
              total += cdouble(e[((r & bit) ? 2 : 0) + ((c & bit) ? 1 : 0)]) * m[r * dim + c];
      }
      const double phase = phases[term[kPhaseColumn]];
      gradients[term[kPhaseColumn]] += 2.0 * (cdouble(0.0, 1.0) * std::polar(1.0, phase) * total).real();
    }
    if (j > 0) {
      multiply_left(steps[j], true, m, dim);
      multiply_right(m, steps[j - 1], true, dim);
    }
  }
}

void measure_row(const Batch& b, const Kernels& k, std::int64_t r, const cfloat* state,
                 bool parallel, double* out) {
  const int n = b.row_qubits[r];
  const std::int64_t first = std::int64_t(b.row_opset[r]) * std::int64_t(b.num_operators);
  for (std::size_t op = 0; op < b.num_operators; ++op) {
    double total = 0.0;
    for (std::int64_t t = b.opset_terms[first + op]; t < b.opset_terms[first + op + 1]; ++t)
      total += k.pauli_expectation(state, n, b.term_masks[2 * t], b.term_masks[2 * t + 1],
                                   b.term_coefs[t], parallel);
    out[op] = total;
  }
}

}  // namespace

void forward(const Batch& b, double* expectations, cfloat* states,
             const std::int64_t* state_offsets) {
  const Kernels& k = host_kernels();
  RowSplit split(b);
  split.each(states ? 0 : 1, [&](std::int64_t r, bool parallel, cfloat* work) {
    cfloat* state = states ? states + state_offsets[r] : work;
    run_row(b, k, r, state, parallel);
    if (expectations) measure_row(b, k, r, state, parallel, expectations + r * b.num_operators);
  });
}

void adjoint(const Batch& b, const double* upstream, const cfloat* final_states,
             const std::int64_t* state_offsets, double* phase_gradients) {
  const Kernels& k = host_kernels();
  RowSplit split(b);
  split.each(2, [&](std::int64_t r, bool parallel, cfloat* work) {
    const int n = b.row_qubits[r];
    const std::int64_t size = std::int64_t(1) << n;
    cfloat* psi = work;
    cfloat* lambda = work + size;
    if (final_states) {
      std::copy(final_states + state_offsets[r], final_states + state_offsets[r] + size, psi);
    } else {
      run_row(b, k, r, psi, parallel);
    }
    std::fill(lambda, lambda + size, cfloat(0.f, 0.f));
    const std::int64_t first = std::int64_t(b.row_opset[r]) * std::int64_t(b.num_operators);
    for (std::size_t op = 0; op < b.num_operators; ++op) {
      const double weight = upstream[r * b.num_operators + op];
      if (weight == 0.0) continue;
      for (std::int64_t t = b.opset_terms[first + op]; t < b.opset_terms[first + op + 1]; ++t)
        k.add_pauli(psi, n, b.term_masks[2 * t], b.term_masks[2 * t + 1],
                    weight * b.term_coefs[t], lambda, parallel);
    }
    static thread_local std::vector<Step> steps(kMaxSteps);
    cfloat scratch[kMaxDim * kMaxDim];
    cdouble overlap[kMaxDim * kMaxDim];
    for (std::int64_t piece = b.row_pieces[r + 1] - 1; piece >= b.row_pieces[r]; --piece) {
      const std::int64_t* p = b.pieces.data + piece * kNumPieceFields;
      for (std::int64_t op = b.program_ops[p[kProgram] + 1] - 1; op >= b.program_ops[p[kProgram]]; --op) {
        const Gate gate = gate_of(b, piece, op, n, scratch);
        if (b.ops[op * kNumOpFields + kTermStart] < 0) {
          k.unapply_pair(psi, lambda, n, gate, nullptr, parallel);
          continue;
        }
        std::fill(overlap, overlap + kMaxDim * kMaxDim, cdouble(0.0));
        k.unapply_pair(psi, lambda, n, gate, overlap, parallel);
        add_phase_gradients(b, piece, op, overlap, scratch, steps.data(),
                            phase_gradients + p[kPhaseBase]);
      }
    }
  });
}

}  // namespace qml
