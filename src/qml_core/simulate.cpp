#include "simulate.hpp"

#include <algorithm>
#include <iterator>
#include <optional>
#include <random>
#include <vector>

#include "pool.hpp"

namespace qml {
namespace {

// kLanes rows that run the same pieces (programs and qubit positions) on the same
// operators; unused lanes repeat the first row, and their results are dropped.
struct LaneGroup {
  std::int64_t rows[kLanes];
  int count = 0;
};

bool same_pieces(const Batch& b, std::int64_t r, std::int64_t s) {
  if (b.row_qubits[r] != b.row_qubits[s] || b.row_opset[r] != b.row_opset[s] ||
      b.row_pieces[r + 1] - b.row_pieces[r] != b.row_pieces[s + 1] - b.row_pieces[s])
    return false;
  for (std::int64_t k = 0; k < b.row_pieces[r + 1] - b.row_pieces[r]; ++k) {
    const std::int64_t* x = b.pieces.data + (b.row_pieces[r] + k) * kNumPieceFields;
    const std::int64_t* y = b.pieces.data + (b.row_pieces[s] + k) * kNumPieceFields;
    if (x[kProgram] != y[kProgram] || x[kPositionStart] != y[kPositionStart]) return false;
  }
  return true;
}

// A key that equal rows share (unequal rows may share it too).
std::int64_t piece_key(const Batch& b, std::int64_t r) {
  const std::int64_t* first = b.pieces.data + b.row_pieces[r] * kNumPieceFields;
  return ((first[kProgram] * 64 + b.row_qubits[r]) * 4096 + first[kPositionStart]) * 1024 +
         b.row_opset[r];
}

// Rows split three ways: rows of at most lane_max_qubits that share their pieces with
// enough others run kLanes at a time; other narrow rows run in parallel, one row per
// thread; wide ones one at a time, in parallel inside the kernels (simulate.hpp says
// which rows are narrow).
struct RowSplit {
  std::vector<std::int64_t> narrow, wide;
  std::vector<LaneGroup> lanes;
  int widest_narrow = 0, widest_wide = 0, widest_lanes = 0;

  RowSplit(const Batch& b, int lane_max_qubits) {
    std::vector<std::int64_t> candidates;
    for (std::size_t r = 0; r < b.num_rows(); ++r) {
      const int n = b.row_qubits[r];
      if (n == 0) continue;
      if (n <= lane_max_qubits) {
        candidates.push_back(std::int64_t(r));
      } else {
        add_single(b, std::int64_t(r));
      }
    }
    group_lanes(b, candidates);
    // Narrow rows of kRowParallelAlwaysBelowQubits or more stay narrow only when every
    // thread gets enough of them to keep busy.
    const auto middle = [&](std::int64_t r) {
      return b.row_qubits[r] >= kRowParallelAlwaysBelowQubits;
    };
    const auto count = std::count_if(narrow.begin(), narrow.end(), middle);
    if (count < std::int64_t(kRowsPerThreadForParallel) * thread_count()) {
      std::copy_if(narrow.begin(), narrow.end(), std::back_inserter(wide), middle);
      narrow.erase(std::remove_if(narrow.begin(), narrow.end(), middle), narrow.end());
    }
    for (std::int64_t r : narrow) widest_narrow = std::max(widest_narrow, int(b.row_qubits[r]));
    for (std::int64_t r : wide) widest_wide = std::max(widest_wide, int(b.row_qubits[r]));
  }

  // Rows of one program, kMinLanes to kLanes of them, become lane groups; the rest run
  // on their own.
  void group_lanes(const Batch& b, std::vector<std::int64_t>& candidates) {
    std::stable_sort(candidates.begin(), candidates.end(), [&](std::int64_t x, std::int64_t y) {
      return piece_key(b, x) < piece_key(b, y);
    });
    for (std::size_t i = 0; i < candidates.size();) {
      std::size_t j = i + 1;
      while (j < candidates.size() && j - i < std::size_t(kLanes) &&
             same_pieces(b, candidates[i], candidates[j]))
        ++j;
      if (j - i >= std::size_t(kMinLanes)) {
        LaneGroup group;
        group.count = int(j - i);
        for (int w = 0; w < kLanes; ++w)
          group.rows[w] = candidates[i + (w < group.count ? w : 0)];
        lanes.push_back(group);
        widest_lanes = std::max(widest_lanes, int(b.row_qubits[candidates[i]]));
      } else {
        for (std::size_t k = i; k < j; ++k) add_single(b, candidates[k]);
      }
      i = j;
    }
  }

  // A row that runs on its own: in parallel with other rows, or, when wide, with every
  // thread inside each gate.
  void add_single(const Batch& b, std::int64_t r) {
    (b.row_qubits[r] > kRowParallelMaxQubits ? wide : narrow).push_back(r);
  }

  // Calls run(row, parallel_kernels, work) for every row outside a lane group, and
  // run_lanes(group, lane_work) for every lane group; `work` holds `copies` states of
  // the row's width and `lane_work` `copies` lane states, owned by the calling thread.
  template <class Run, class RunLanes>
  void each(int copies, int lane_copies, Run run, RunLanes run_lanes) const {
    if (!narrow.empty() || !lanes.empty()) {
      // Buffers per slot of share_rows, allocated by the thread that first uses one.
      std::vector<std::vector<cfloat>> works(static_cast<std::size_t>(thread_count()));
      std::vector<std::vector<float>> lane_works(works.size());
      share_rows(lanes.size() + narrow.size(), [&](std::size_t k, int slot) {
        if (k < lanes.size()) {
          std::vector<float>& lane_work = lane_works[std::size_t(slot)];
          lane_work.resize((std::size_t(2 * kLanes) << widest_lanes) * std::size_t(lane_copies));
          run_lanes(lanes[k], lane_work.data());
        } else {
          std::vector<cfloat>& work = works[std::size_t(slot)];
          work.resize(std::size_t(copies) << widest_narrow);
          run(narrow[k - lanes.size()], false, work.data());
        }
      });
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

// A thread's buffer of bound steps.
Step* thread_steps() {
  static thread_local std::vector<Step> steps(kMaxSteps);
  return steps.data();
}

// Consecutive ops of a wide row that act within its low kTileQubits bits, run tile by
// tile: each tile of 2^kTileQubits consecutive amplitudes takes every op of the run
// while it sits in its thread's cache, where op by op each op streams the whole state
// through memory (docs/native-core.md, "Tiles of wide rows").
//
// Example, a forward pass:
//   TileRun run(n);
//   for (each gate) {
//     if (!run.takes(gate)) run.apply(k, state, parallel);
//     if (run.takes(gate)) { run.add(gate, piece, op); continue; }
//     k.apply(state, n, gate, false, parallel);
//   }
//   run.apply(k, state, parallel);
class TileRun {
 public:
  explicit TileRun(int num_qubits) : num_qubits_(num_qubits) {}

  // Whether `gate` may join: the row is tiled, the run has room, and the gate's targets
  // and controls all lie within a tile.
  bool takes(const Gate& gate) const {
    if (num_qubits_ < kTiledMinQubits || int(entries_.size()) == kMaxTileOps) return false;
    for (int t = 0; t < gate.num_targets; ++t)
      if (gate.targets[t] >= kTileQubits) return false;
    return (gate.control_mask >> kTileQubits) == 0;
  }

  // Adds op `op` of piece `piece` as `gate` (its matrix is copied); the adjoint sums
  // the overlap of a parameterized one.
  void add(const Gate& gate, std::int64_t piece, std::int64_t op, bool parameterized = false) {
    const int dim = 1 << gate.num_targets;
    Entry entry{gate, piece, op, matrices_.size(), -1};
    if (parameterized) {
      entry.overlap = overlap_size_;
      overlap_size_ += std::size_t(dim * dim);
    }
    matrices_.insert(matrices_.end(), gate.matrix, gate.matrix + dim * dim);
    entries_.push_back(entry);
  }

  int size() const { return int(entries_.size()); }
  std::int64_t piece(int i) const { return entries_[std::size_t(i)].piece; }
  std::int64_t op(int i) const { return entries_[std::size_t(i)].op; }
  // The overlap of parameterized entry i after unapply, or null for a constant one.
  const cdouble* overlap(int i) const {
    const std::int64_t at = entries_[std::size_t(i)].overlap;
    return at < 0 ? nullptr : overlaps_.data() + at;
  }

  // Applies the run's ops in order to a state of the row, then empties the run.
  void apply(const Kernels& k, cfloat* state, bool parallel) {
    if (entries_.empty()) return;
    each_tile(parallel, [&](index_t start, int) {
      for (const Entry& e : entries_) k.apply(state + start, kTileQubits, placed(e), false, false);
    });
    clear();
  }

  // Un-applies the run's ops in order from psi and lambda, summing each parameterized
  // op's overlap (read them with overlap(i); clear() empties the run).
  void unapply(const Kernels& k, cfloat* psi, cfloat* lambda, bool parallel) {
    const int slots = parallel ? thread_count() : 1;
    overlaps_.assign(overlap_size_ * std::size_t(slots), cdouble(0.0));
    each_tile(parallel, [&](index_t start, int slot) {
      cdouble* mine = overlaps_.data() + overlap_size_ * std::size_t(slot);
      for (const Entry& e : entries_)
        k.unapply_pair(psi + start, lambda + start, kTileQubits, placed(e),
                       e.overlap < 0 ? nullptr : mine + e.overlap, false);
    });
    for (int s = 1; s < slots; ++s)
      for (std::size_t j = 0; j < overlap_size_; ++j)
        overlaps_[j] += overlaps_[overlap_size_ * std::size_t(s) + j];
  }

  void clear() {
    entries_.clear();
    matrices_.clear();
    overlap_size_ = 0;
  }

 private:
  struct Entry {
    Gate gate;
    std::int64_t piece, op;
    std::size_t matrix;    // its first entry in matrices_
    std::int64_t overlap;  // its first entry in overlaps_, or -1
  };

  Gate placed(const Entry& e) const {
    Gate gate = e.gate;
    gate.matrix = matrices_.data() + e.matrix;
    return gate;
  }

  // body(first amplitude, slot) for every tile, on the core's threads when `parallel`
  // (tile ranges fixed by the thread count, so sums come out the same every call).
  template <class Body>
  void each_tile(bool parallel, Body body) const {
    const std::int64_t tiles = std::int64_t(1) << (num_qubits_ - kTileQubits);
    const int threads = parallel ? int(std::min<std::int64_t>(thread_count(), tiles)) : 1;
    const auto each = [&](int slot) {
      const std::int64_t begin = tiles * slot / threads, end = tiles * (slot + 1) / threads;
      for (std::int64_t t = begin; t < end; ++t) body(index_t(t) << kTileQubits, slot);
    };
    if (threads <= 1) return each(0);
    parallel_chunks(threads, each);
  }

  int num_qubits_;
  std::vector<Entry> entries_;
  std::vector<cfloat> matrices_;
  std::size_t overlap_size_ = 0;
  std::vector<cdouble> overlaps_;
};

// A trajectory's uniform numbers for its noise channels: SplitMix64 (Steele, Lea and
// Flood, 2014), whose state is one word, so that every lane of a group keeps its own
// stream at no cost. The same seed gives the same draws on every platform.
struct NoiseStream {
  std::uint64_t state = 0;

  double uniform() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return double((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  }
};

// One channel op's Kraus operators, as the batch holds them.
struct Channel {
  int count = 0, dim = 0;
  bool mixture = false;
  const cfloat* kraus = nullptr;

  Channel(const Batch& b, std::int64_t op) {
    const std::int64_t* f = b.ops.data + op * kNumOpFields;
    count = int(f[kNumKraus]);
    dim = 1 << f[kNumTargets];
    mixture = f[kMixture] != 0;
    kraus = b.matrices.data + f[kMatrixOffset];
  }

  const cfloat* op(int k) const { return kraus + k * dim * dim; }

  // Whether K_k is a multiple of the identity: then it changes a trajectory's state
  // only by a phase and a norm, which the renormalisation undoes.
  bool scalar(int k) const {
    const cfloat* m = op(k);
    for (int i = 0; i < dim; ++i)
      for (int j = 0; j < dim; ++j)
        if (i == j ? m[i * dim + j] != m[0] : m[i * dim + j] != cfloat(0.f, 0.f)) return false;
    return true;
  }

  // p[k] = |K_k psi|^2: a mixture's fixed weights (K_k^dagger K_k = p_k I, read from the
  // first column), or, from the targets' reduced density matrix rho (entry a * dim + c,
  // sum psi_a conj(psi_c), has its real part at rho[2 (a * dim + c) stride] and its
  // imaginary part `stride` further), the sum over i, a, c of K_ia rho_ac conj(K_ic).
  void probabilities(const double* rho, int stride, double* p) const {
    for (int k = 0; k < count; ++k) {
      const cfloat* m = op(k);
      double total = 0.0;
      for (int i = 0; i < dim; ++i) {
        if (mixture) {
          total += std::norm(cdouble(m[i * dim]));
          continue;
        }
        for (int a = 0; a < dim; ++a)
          for (int c = 0; c < dim; ++c) {
            const cdouble x = cdouble(m[i * dim + a]) * std::conj(cdouble(m[i * dim + c]));
            const double* r = rho + 2 * (a * dim + c) * stride;
            total += x.real() * r[0] - x.imag() * r[stride];
          }
      }
      p[k] = std::max(total, 0.0);
    }
  }

  // The Kraus operator that uniform u in [0, 1) picks with probabilities p; -1 when
  // they are all zero (a state the channel annihilates, which float rounding can leave).
  int choose(const double* p, double u) const {
    double total = 0.0;
    for (int k = 0; k < count; ++k) total += p[k];
    double left = u * total;
    int last = -1;
    for (int k = 0; k < count; ++k) {
      if (p[k] <= 0.0) continue;
      last = k;
      if (left < p[k]) break;
      left -= p[k];
    }
    return last;
  }

  // K_k / sqrt(p) into m.
  void normalised(int k, double p, cfloat* m) const {
    const float scale = float(1.0 / std::sqrt(p));
    for (int e = 0; e < dim * dim; ++e) m[e] = op(k)[e] * scale;
  }
};

// The indices whose bits at a gate's targets are all 0, in runs of consecutive indices
// below its lowest target: run r starts at start(r) and holds `length` of them.
struct ZeroTargetRuns {
  int bits[kMaxTargets];  // the targets' bit positions, ascending
  int num_bits;
  index_t length, count;

  ZeroTargetRuns(const Gate& g, int n) : num_bits(g.num_targets) {
    std::copy(g.targets, g.targets + g.num_targets, bits);
    std::sort(bits, bits + num_bits);
    length = index_t(1) << bits[0];
    count = index_t(1) << (n - num_bits - bits[0]);
  }

  index_t start(index_t r) const {
    index_t k = r << bits[0];
    for (int j = 0; j < num_bits; ++j) {
      const index_t low = (index_t(1) << bits[j]) - 1;
      k = ((k & ~low) << 1) | (k & low);
    }
    return k;
  }
};

// rho[(a * dim + c) * 2 + part] = the real (part 0) or imaginary (part 1) part of the
// sum over the other qubits of psi_a conj(psi_c), on the targets of `gate`, for a
// state of n qubits. (Real arithmetic: std::complex products check for infinities.)
void reduced_density(const cfloat* state, int n, const Gate& gate, double* rho) {
  const int dim = 1 << gate.num_targets;
  index_t offsets[kMaxDim];
  for (int a = 0; a < dim; ++a) offsets[a] = target_offset(gate, a);
  std::fill(rho, rho + 2 * dim * dim, 0.0);
  const ZeroTargetRuns runs(gate, n);
  for (index_t r = 0; r < runs.count; ++r) {
    const index_t first = runs.start(r);
    for (int a = 0; a < dim; ++a)
      for (int c = a; c < dim; ++c) {  // rho is Hermitian: the upper triangle suffices
        const cfloat* x = state + first + offsets[a];
        const cfloat* y = state + first + offsets[c];
        float re = 0.f, im = 0.f;  // a run's sums in float, the totals in double
        for (index_t j = 0; j < runs.length; ++j) {
          re += x[j].real() * y[j].real() + x[j].imag() * y[j].imag();
          im += x[j].imag() * y[j].real() - x[j].real() * y[j].imag();
        }
        rho[(a * dim + c) * 2] += re;
        rho[(a * dim + c) * 2 + 1] += im;
      }
  }
  for (int a = 0; a < dim; ++a)
    for (int c = 0; c < a; ++c) {
      rho[(a * dim + c) * 2] = rho[(c * dim + a) * 2];
      rho[(a * dim + c) * 2 + 1] = -rho[(c * dim + a) * 2 + 1];
    }
}

// One trajectory step through channel op `op` (placed as `gate`) on a row's state.
void apply_channel(const Batch& b, const Kernels& k, Gate gate, std::int64_t op, cfloat* state,
                   int n, bool parallel, NoiseStream& noise) {
  const Channel channel(b, op);
  double rho[2 * kMaxDim * kMaxDim];
  if (!channel.mixture) reduced_density(state, n, gate, rho);
  double p[kMaxKraus];
  channel.probabilities(rho, 1, p);
  const int chosen = channel.choose(p, noise.uniform());
  if (chosen < 0 || channel.scalar(chosen)) return;
  cfloat matrix[kMaxDim * kMaxDim];
  channel.normalised(chosen, p[chosen], matrix);
  gate.matrix = matrix;
  k.apply(state, n, gate, false, parallel);
}

void run_row(const Batch& b, const Kernels& k, std::int64_t r, cfloat* state, bool parallel,
             const std::uint64_t* seeds) {
  const int n = b.row_qubits[r];
  cfloat scratch[kMaxDim * kMaxDim];
  Step* steps = thread_steps();
  int num_steps = 0;
  NoiseStream noise{seeds ? seeds[r] : 0};
  zero_state(state, n);
  TileRun run(n);
  for (std::int64_t piece = b.row_pieces[r]; piece < b.row_pieces[r + 1]; ++piece) {
    const std::int64_t program = b.pieces[piece * kNumPieceFields + kProgram];
    for (std::int64_t op = b.program_ops[program]; op < b.program_ops[program + 1]; ++op) {
      if (b.ops[op * kNumOpFields + kNumKraus]) {
        run.apply(k, state, parallel);
        apply_channel(b, k, placed_gate(b, piece, op, n), op, state, n, parallel, noise);
        continue;
      }
      const Gate gate = gate_of(b, piece, op, n, scratch, steps, &num_steps);
      if (!run.takes(gate)) run.apply(k, state, parallel);  // ends the run (a full one too)
      if (run.takes(gate)) {
        run.add(gate, piece, op);
        continue;
      }
      k.apply(state, n, gate, false, parallel);
    }
  }
  run.apply(k, state, parallel);
}

// Diagonal Pauli terms (Z strings) of lambda = sum_k upstream[k] H_k psi, summed into
// coefficient tables on the low and the high index bits, so that they cost one pass
// over the state together instead of one pass each. A term whose Zs fall on both
// halves is left to add_pauli.
struct DiagonalSum {
  int low_bits, high_bits;
  std::vector<cfloat> low, high;
  bool used = false;

  explicit DiagonalSum(int num_qubits)
      : low_bits(std::min(num_qubits, 10)), high_bits(num_qubits - low_bits),
        low(std::size_t(1) << low_bits), high(std::size_t(1) << high_bits) {}

  // Adds weight * (-1)^popcount(j & z) when z lies within one half; false otherwise.
  bool add(index_t z, cdouble weight) {
    const index_t low_mask = (index_t(1) << low_bits) - 1;
    std::vector<cfloat>& table = (z & ~low_mask) == 0 ? low : high;
    const index_t mask = (z & ~low_mask) == 0 ? z : z >> low_bits;
    if ((z & low_mask) != 0 && (z & ~low_mask) != 0) return false;
    const cfloat w(float(weight.real()), float(weight.imag()));
    for (std::size_t j = 0; j < table.size(); ++j)
      table[j] += __builtin_parityll(j & mask) ? -w : w;
    used = true;
    return true;
  }
};

// `batch` with its phasors computed into `storage`.
Batch with_phasors(const Batch& batch, std::vector<cdouble>& storage) {
  storage = phasors_of(batch);
  Batch bound = batch;
  bound.phasors = storage.data();
  return bound;
}

// Adds d loss / d phase for each term of parameterized op `op` from its overlap O,
// where d loss = 2 Re sum(dU * O). With U = S_last ... S_0, step j sees
// M_j = L_j^T O R_j^T (L_j, R_j the products of the steps after and before it), and
// since the steps are unitary, M_last = O U^T conj(S_last) and
// M_{j-1} = S_j^T M_j conj(S_{j-1}).
void add_phase_gradients(const Batch& b, std::int64_t piece, std::int64_t op,
                         const cdouble* overlap, const cfloat* unitary, const Step* steps,
                         int count, double* gradients) {
  const std::int64_t* f = b.ops.data + op * kNumOpFields;
  const int dim = 1 << f[kNumTargets];
  cdouble m[kMaxDim * kMaxDim];
  for (int i = 0; i < dim; ++i)  // O U^T
    for (int j = 0; j < dim; ++j) {
      cdouble total = 0.0;
      for (int k = 0; k < dim; ++k) total += overlap[i * dim + k] * cdouble(unitary[j * dim + k]);
      m[i * dim + j] = total;
    }
  multiply_right(m, steps[count - 1], true, dim);
  const cdouble* phasors = b.phasors + b.pieces[piece * kNumPieceFields + kPhaseBase];
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
      gradients[term[kPhaseColumn]] += 2.0 * (cdouble(0.0, 1.0) * phasors[term[kPhaseColumn]] * total).real();
    }
    if (j > 0) {
      multiply_left(steps[j], true, m, dim);
      multiply_right(m, steps[j - 1], true, dim);
    }
  }
}

// A state's probabilities summed over its high and over its low index bits (for each
// of `width` lanes): the expectation of a Z string within one half reads them instead
// of the state, so that many such terms cost one pass over the state, not one each.
struct Marginals {
  int low_bits, width;
  std::vector<double> low, high;  // [2^low_bits][width], [2^(n - low_bits)][width]

  Marginals(int num_qubits, int lanes)
      : low_bits(low_half_bits(num_qubits)), width(lanes),
        low(std::size_t(lanes) << low_bits), high(std::size_t(lanes) << (num_qubits - low_bits)) {}

  // The low half's bits: tables of 2^(n/2) entries, far smaller than the state.
  static int low_half_bits(int num_qubits) { return (num_qubits + 1) / 2; }

  static bool within_one_half(index_t z, int low_bits) {
    const index_t low_mask = (index_t(1) << low_bits) - 1;
    return (z & low_mask) == 0 || (z & ~low_mask) == 0;
  }

  // Whether the operators of a row (from opset entry `first`) hold more than one Z
  // string within one half: only then do the marginals save passes.
  static bool worth_it(const Batch& b, std::int64_t first, int num_qubits) {
    const int low_bits = low_half_bits(num_qubits);
    int count = 0;
    for (std::int64_t t = b.opset_terms[first]; t < b.opset_terms[first + b.num_operators]; ++t)
      count += b.term_masks[2 * t] == 0 && within_one_half(b.term_masks[2 * t + 1], low_bits);
    return count > 1;
  }

  bool covers(index_t x, index_t z) const { return x == 0 && within_one_half(z, low_bits); }

  // out[w] = sum_j |psi_w[j]|^2 (-1)^popcount(j & z), for z within one half.
  void z_sums(index_t z, double* out) const {
    const index_t low_mask = (index_t(1) << low_bits) - 1;
    const std::vector<double>& table = (z & low_mask) ? low : high;
    const index_t mask = (z & low_mask) ? z : z >> low_bits;
    std::fill(out, out + width, 0.0);
    for (std::size_t j = 0; j < table.size() / std::size_t(width); ++j) {
      const double sign = __builtin_parityll(j & mask) ? -1.0 : 1.0;
      for (int w = 0; w < width; ++w) out[w] += sign * table[j * std::size_t(width) + std::size_t(w)];
    }
  }
};

void measure_row(const Batch& b, const Kernels& k, std::int64_t r, const cfloat* state,
                 bool parallel, double* out) {
  const int n = b.row_qubits[r];
  const std::int64_t first = std::int64_t(b.row_opset[r]) * std::int64_t(b.num_operators);
  std::optional<Marginals> marginals;
  if (Marginals::worth_it(b, first, n)) {
    marginals.emplace(n, 1);
    k.probability_marginals(state, n, marginals->low_bits, marginals->low.data(),
                            marginals->high.data(), parallel);
  }
  for (std::size_t op = 0; op < b.num_operators; ++op) {
    double total = 0.0;
    for (std::int64_t t = b.opset_terms[first + op]; t < b.opset_terms[first + op + 1]; ++t) {
      const index_t x = b.term_masks[2 * t], z = b.term_masks[2 * t + 1];
      if (marginals && marginals->covers(x, z)) {
        double sum;
        marginals->z_sums(z, &sum);
        total += (b.term_coefs[t] * sum).real();
      } else {
        total += k.pauli_expectation(state, n, x, z, b.term_coefs[t], parallel);
      }
    }
    out[op] = total;
  }
}

// The terms of parameterized op `op` of piece number `k`, each with every lane's
// exp(i phase) factor.
const std::vector<LaneTerm>& lane_terms(const Batch& b, const LaneGroup& g, std::int64_t k,
                                        std::int64_t op) {
  static thread_local std::vector<LaneTerm> terms;
  const std::int64_t* f = b.ops.data + op * kNumOpFields;
  terms.resize(std::size_t(f[kNumTerms]));
  const cdouble* phasors[kLanes];
  for (int w = 0; w < kLanes; ++w)
    phasors[w] = b.phasors + b.pieces[(b.row_pieces[g.rows[w]] + k) * kNumPieceFields + kPhaseBase];
  for (std::int64_t t = 0; t < f[kNumTerms]; ++t) {
    const std::int64_t* term = b.terms.data + (f[kTermStart] + t) * kNumTermFields;
    LaneTerm& lane_term = terms[std::size_t(t)];
    lane_term.step = int(term[kStep]);
    lane_term.place = int(term[kPlace]);
    lane_term.matrix = b.matrices.data + term[kTermMatrix];
    const std::int64_t column = term[kPhaseColumn];
    lane_term.constant = column < 0;
    for (int w = 0; w < kLanes; ++w) {
      const cdouble factor = column < 0 ? cdouble(1.0) : phasors[w][column];
      lane_term.factor_re[w] = float(factor.real());
      lane_term.factor_im[w] = float(factor.imag());
    }
  }
  return terms;
}

LaneMatrix& thread_lane_matrix() {
  static thread_local LaneMatrix matrix;
  return matrix;
}

// rho[(e * 2 + part) * kLanes + w]: entry e = a * dim + c of lane w's reduced density
// matrix on the targets of `gate` (see reduced_density), real part 0, imaginary 1.
void reduced_density_lanes(const float* state, int n, const Gate& gate, double* rho) {
  const int dim = 1 << gate.num_targets;
  index_t offsets[kMaxDim];
  for (int a = 0; a < dim; ++a) offsets[a] = target_offset(gate, a);
  const index_t mask = offsets[dim - 1];
  std::fill(rho, rho + 2 * kLanes * dim * dim, 0.0);
  for (index_t i = 0; i < (index_t(1) << n); i = ((i | mask) + 1) & ~mask) {
    for (int a = 0; a < dim; ++a) {
      const float* x = state + 2 * (i | offsets[a]) * kLanes;
      for (int c = 0; c < dim; ++c) {
        const float* y = state + 2 * (i | offsets[c]) * kLanes;
        double* re = rho + (a * dim + c) * 2 * kLanes;
        double* im = re + kLanes;
        for (int w = 0; w < kLanes; ++w) {  // x conj(y)
          re[w] += double(x[w]) * y[w] + double(x[kLanes + w]) * y[kLanes + w];
          im[w] += double(x[kLanes + w]) * y[w] - double(x[w]) * y[kLanes + w];
        }
      }
    }
  }
}

// One trajectory step through channel op `op` (placed as `gate`) for every lane, each
// lane drawing from its own stream. When every lane draws a multiple of the identity
// (most draws of a weak channel), the state is left as it is.
void apply_channel_lanes(const Batch& b, const Kernels& k, const Gate& gate, std::int64_t op,
                         float* state, int n, NoiseStream* noise, LaneMatrix& matrix) {
  const Channel channel(b, op);
  const int dim = channel.dim;
  static thread_local std::vector<double> rho;
  double p[kMaxKraus];
  if (channel.mixture) {
    channel.probabilities(nullptr, 0, p);
  } else {
    rho.resize(std::size_t(2 * kLanes) * dim * dim);
    reduced_density_lanes(state, n, gate, rho.data());
  }
  int chosen[kLanes];
  double weight[kLanes];
  bool any = false;
  for (int w = 0; w < kLanes; ++w) {
    if (!channel.mixture) channel.probabilities(rho.data() + w, kLanes, p);
    chosen[w] = channel.choose(p, noise[w].uniform());
    if (chosen[w] >= 0 && channel.scalar(chosen[w])) chosen[w] = -1;
    weight[w] = chosen[w] >= 0 ? p[chosen[w]] : 1.0;
    any = any || chosen[w] >= 0;
  }
  if (!any) return;
  for (int w = 0; w < kLanes; ++w) {
    cfloat m[kMaxDim * kMaxDim];
    if (chosen[w] >= 0) {
      channel.normalised(chosen[w], weight[w], m);
    } else {
      for (int e = 0; e < dim * dim; ++e) m[e] = cfloat(e % (dim + 1) == 0 ? 1.f : 0.f, 0.f);
    }
    for (int e = 0; e < dim * dim; ++e) {
      matrix.re[e][w] = m[e].real();
      matrix.im[e][w] = m[e].imag();
    }
  }
  k.apply_lanes(state, n, gate, matrix);
}

void run_lanes(const Batch& b, const Kernels& k, const LaneGroup& g, float* state,
               const std::uint64_t* seeds) {
  const std::int64_t r = g.rows[0];
  const int n = b.row_qubits[r];
  std::fill(state, state + (std::size_t(2 * kLanes) << n), 0.f);
  std::fill(state, state + kLanes, 1.f);
  LaneMatrix& matrix = thread_lane_matrix();
  NoiseStream noise[kLanes];
  for (int w = 0; w < kLanes && seeds; ++w) noise[w].state = seeds[g.rows[w]];
  for (std::int64_t piece = 0; piece < b.row_pieces[r + 1] - b.row_pieces[r]; ++piece) {
    const std::int64_t program = b.pieces[(b.row_pieces[r] + piece) * kNumPieceFields + kProgram];
    for (std::int64_t op = b.program_ops[program]; op < b.program_ops[program + 1]; ++op) {
      if (b.ops[op * kNumOpFields + kNumKraus]) {
        apply_channel_lanes(b, k, placed_gate(b, b.row_pieces[r] + piece, op, n), op, state, n,
                            noise, matrix);
        continue;
      }
      const Gate gate = placed_gate(b, b.row_pieces[r] + piece, op, n);
      if (gate.matrix) {
        k.apply_constant_lanes(state, n, gate, matrix);
      } else {
        const std::vector<LaneTerm>& terms = lane_terms(b, g, piece, op);
        k.apply_terms_lanes(state, n, gate, terms.data(), int(terms.size()), matrix);
      }
    }
  }
}

void measure_lanes(const Batch& b, const Kernels& k, const LaneGroup& g, const float* state,
                   double* expectations) {
  const int n = b.row_qubits[g.rows[0]];
  const std::int64_t first = std::int64_t(b.row_opset[g.rows[0]]) * std::int64_t(b.num_operators);
  std::optional<Marginals> marginals;
  if (Marginals::worth_it(b, first, n)) {
    marginals.emplace(n, kLanes);
    k.probability_marginals_lanes(state, n, marginals->low_bits, marginals->low.data(),
                                  marginals->high.data());
  }
  double sums[2 * kLanes] = {};
  for (std::size_t op = 0; op < b.num_operators; ++op) {
    double total[kLanes] = {};
    for (std::int64_t t = b.opset_terms[first + op]; t < b.opset_terms[first + op + 1]; ++t) {
      const index_t x = b.term_masks[2 * t], z = b.term_masks[2 * t + 1];
      if (marginals && marginals->covers(x, z)) {
        // Real sums; a Z string's coefficient is real, so whatever imaginary parts an
        // earlier term left in `sums` contributes nothing below.
        marginals->z_sums(z, sums);
      } else {
        k.pauli_sums_lanes(state, n, x, z, sums);
      }
      for (int w = 0; w < kLanes; ++w)
        total[w] += (b.term_coefs[t] * cdouble(sums[w], sums[kLanes + w])).real();
    }
    for (int w = 0; w < g.count; ++w) expectations[g.rows[w] * b.num_operators + op] = total[w];
  }
}

// Each used lane's state into its row of `states` (laid out as forward writes them).
void lanes_to_rows(const LaneGroup& g, int n, const float* lanes, cfloat* states,
                   const std::int64_t* state_offsets) {
  for (int w = 0; w < g.count; ++w) {
    cfloat* row = states + state_offsets[g.rows[w]];
    for (std::size_t a = 0; a < (std::size_t(1) << n); ++a)
      row[a] = cfloat(lanes[2 * a * kLanes + w], lanes[(2 * a + 1) * kLanes + w]);
  }
}

// Each lane's row of `states` into the lane state (unused lanes repeat the first row).
void rows_to_lanes(const LaneGroup& g, int n, const cfloat* states,
                   const std::int64_t* state_offsets, float* lanes) {
  for (int w = 0; w < kLanes; ++w) {
    const cfloat* row = states + state_offsets[g.rows[w]];
    for (std::size_t a = 0; a < (std::size_t(1) << n); ++a) {
      lanes[2 * a * kLanes + w] = row[a].real();
      lanes[(2 * a + 1) * kLanes + w] = row[a].imag();
    }
  }
}

void adjoint_lanes(const Batch& b, const Kernels& k, const LaneGroup& g, const double* upstream,
                   const cfloat* final_states, const std::int64_t* state_offsets,
                   double* phase_gradients, float* work) {
  const std::int64_t r = g.rows[0];
  const int n = b.row_qubits[r];
  const std::size_t floats = std::size_t(2 * kLanes) << n;
  float* psi = work;
  float* lambda = work + floats;
  if (final_states) {
    rows_to_lanes(g, n, final_states, state_offsets, psi);
  } else {
    run_lanes(b, k, g, psi, nullptr);
  }
  std::fill(lambda, lambda + floats, 0.f);
  const std::int64_t first = std::int64_t(b.row_opset[r]) * std::int64_t(b.num_operators);
  float weight[2 * kLanes];
  for (std::size_t op = 0; op < b.num_operators; ++op) {
    for (std::int64_t t = b.opset_terms[first + op]; t < b.opset_terms[first + op + 1]; ++t) {
      for (int w = 0; w < kLanes; ++w) {
        const double up = w < g.count ? upstream[g.rows[w] * b.num_operators + op] : 0.0;
        const cdouble value = up * b.term_coefs[t];
        weight[w] = float(value.real());
        weight[kLanes + w] = float(value.imag());
      }
      k.add_pauli_lanes(psi, n, b.term_masks[2 * t], b.term_masks[2 * t + 1], weight, lambda);
    }
  }
  LaneMatrix& matrix = thread_lane_matrix();
  static thread_local std::vector<double> overlap_store(std::size_t(2 * kLanes) * kMaxDim * kMaxDim);
  double* overlaps = overlap_store.data();
  static thread_local std::vector<float> totals;
  const std::int64_t num_pieces = b.row_pieces[r + 1] - b.row_pieces[r];
  for (std::int64_t piece = num_pieces - 1; piece >= 0; --piece) {
    const std::int64_t program = b.pieces[(b.row_pieces[r] + piece) * kNumPieceFields + kProgram];
    for (std::int64_t op = b.program_ops[program + 1] - 1; op >= b.program_ops[program]; --op) {
      const Gate gate = placed_gate(b, b.row_pieces[r] + piece, op, n);
      const std::int64_t* f = b.ops.data + op * kNumOpFields;
      if (gate.matrix) {
        k.unapply_constant_pair_lanes(psi, lambda, n, gate, matrix);
        continue;
      }
      const std::vector<LaneTerm>& terms = lane_terms(b, g, piece, op);
      totals.resize(terms.size() * 2 * kLanes);
      k.unapply_terms_lanes(psi, lambda, n, gate, terms.data(), int(terms.size()), matrix,
                            overlaps, totals.data());
      for (int w = 0; w < g.count; ++w) {  // d loss / d phase = 2 Re(i exp(i phase) total)
        const std::int64_t base =
            b.pieces[(b.row_pieces[g.rows[w]] + piece) * kNumPieceFields + kPhaseBase];
        for (std::size_t t = 0; t < terms.size(); ++t) {
          const std::int64_t column = b.terms[(f[kTermStart] + std::int64_t(t)) * kNumTermFields + kPhaseColumn];
          if (column < 0) continue;
          const cdouble total(totals[(2 * t) * kLanes + w], totals[(2 * t + 1) * kLanes + w]);
          phase_gradients[base + column] +=
              2.0 * (cdouble(0.0, 1.0) * b.phasors[base + column] * total).real();
        }
      }
    }
  }
}

// The sampler's cumulative table has an entry per amplitude on up to
// kSampleTableMaxQubits qubits (512 KiB), and on wider registers one per block of
// 2^kSampleBlockBits amplitudes (1/64 of the state's size): a draw then finds its block
// by binary search and its amplitude by a scan of at most 64 probabilities.
constexpr int kSampleTableMaxQubits = 16;
constexpr int kSampleBlockBits = 6;

// Draws `repetitions` basis states of an n-qubit state with probabilities
// `probability(a)`, seeded by `seed`, and writes each as n bits, qubit 0 first, to
// bits[s * width + q]. The draws are fixed by the seed (mt19937_64 and a 53-bit
// uniform, the same on every platform).
template <class Probability>
void draw_samples(int n, Probability probability, std::uint64_t seed, std::int64_t repetitions,
                  std::int64_t width, std::int8_t* bits) {
  const int block_bits = n <= kSampleTableMaxQubits ? 0 : kSampleBlockBits;
  const std::size_t blocks = std::size_t(1) << (n - block_bits);
  const std::size_t block_size = std::size_t(1) << block_bits;
  static thread_local std::vector<double> storage;
  storage.resize(blocks);
  double* const cumulative = storage.data();
  double total = 0.0;
  for (std::size_t k = 0; k < blocks; ++k) {
    for (std::size_t a = k * block_size; a < (k + 1) * block_size; ++a) total += probability(a);
    cumulative[k] = total;
  }
  std::mt19937_64 engine(seed);
  for (std::int64_t s = 0; s < repetitions; ++s) {
    const double u = double(engine() >> 11) * 0x1.0p-53 * total;
    // The first block whose cumulative probability exceeds u, by a binary search
    // without branches: random draws mispredict half the branches of a branchy one,
    // which made sampling 1.75 times as slow.
    const double* first = cumulative;
    for (std::size_t count = blocks; count > 1;) {
      const std::size_t half = count / 2;
      first += half * std::size_t(first[half - 1] <= u);
      count -= half;
    }
    std::size_t k = std::size_t(first - cumulative) + (*first <= u);
    if (k == blocks) k = blocks - 1;  // u rounded up to the total
    while (k > 0 && cumulative[k] == cumulative[k - 1]) --k;  // an empty block: the last full one
    std::size_t chosen = k * block_size;
    double left = u - (k ? cumulative[k - 1] : 0.0);
    for (std::size_t a = chosen; block_size > 1 && a < (k + 1) * block_size; ++a) {
      const double p = probability(a);
      if (p > 0.0) chosen = a;
      if (p > left) break;
      left -= p;
    }
    std::int8_t* out = bits + s * width;
    for (int q = 0; q < n; ++q) out[q] = std::int8_t((chosen >> (n - 1 - q)) & 1);
  }
}

}  // namespace

void forward(const Batch& batch, const std::uint64_t* seeds, double* expectations,
             cfloat* states, const std::int64_t* state_offsets) {
  std::vector<cdouble> phasors;
  const Batch b = with_phasors(batch, phasors);
  const Kernels& k = host_kernels();
  RowSplit split(b, kLaneMaxQubits);
  split.each(states ? 0 : 1, 1, [&](std::int64_t r, bool parallel, cfloat* work) {
    cfloat* state = states ? states + state_offsets[r] : work;
    run_row(b, k, r, state, parallel, seeds);
    if (expectations) measure_row(b, k, r, state, parallel, expectations + r * b.num_operators);
  }, [&](const LaneGroup& g, float* work) {
    run_lanes(b, k, g, work, seeds);
    if (expectations) measure_lanes(b, k, g, work, expectations);
    if (states) lanes_to_rows(g, b.row_qubits[g.rows[0]], work, states, state_offsets);
  });
}

void adjoint(const Batch& batch, const double* upstream, const cfloat* final_states,
             const std::int64_t* state_offsets, double* phase_gradients) {
  std::vector<cdouble> phasors;
  const Batch b = with_phasors(batch, phasors);
  const Kernels& k = host_kernels();
  RowSplit split(b, kAdjointLaneMaxQubits);
  split.each(2, 2, [&](std::int64_t r, bool parallel, cfloat* work) {
    const int n = b.row_qubits[r];
    const std::int64_t size = std::int64_t(1) << n;
    cfloat* psi = work;
    cfloat* lambda = work + size;
    if (final_states) {
      std::copy(final_states + state_offsets[r], final_states + state_offsets[r] + size, psi);
    } else {
      run_row(b, k, r, psi, parallel, nullptr);
    }
    std::fill(lambda, lambda + size, cfloat(0.f, 0.f));
    const std::int64_t first = std::int64_t(b.row_opset[r]) * std::int64_t(b.num_operators);
    DiagonalSum diagonal(n);
    for (std::size_t op = 0; op < b.num_operators; ++op) {
      const double weight = upstream[r * b.num_operators + op];
      if (weight == 0.0) continue;
      for (std::int64_t t = b.opset_terms[first + op]; t < b.opset_terms[first + op + 1]; ++t) {
        const index_t x = b.term_masks[2 * t], z = b.term_masks[2 * t + 1];
        if (x != 0 || !diagonal.add(z, weight * b.term_coefs[t]))
          k.add_pauli(psi, n, x, z, weight * b.term_coefs[t], lambda, parallel);
      }
    }
    if (diagonal.used)
      k.add_diagonal(psi, n, diagonal.low_bits, diagonal.low.data(), diagonal.high.data(),
                     lambda, parallel);
    Step* steps = thread_steps();
    int num_steps = 0;
    cfloat scratch[kMaxDim * kMaxDim];
    cdouble overlap[kMaxDim * kMaxDim];
    const auto gradients_of = [&](std::int64_t piece, std::int64_t op, const cdouble* o) {
      add_phase_gradients(b, piece, op, o, scratch, steps, num_steps,
                          phase_gradients + b.pieces[piece * kNumPieceFields + kPhaseBase]);
    };
    TileRun run(n);
    // Un-applies the run, then binds each parameterized op's steps again (into scratch
    // and steps) for its gradients.
    const auto finish_run = [&] {
      run.unapply(k, psi, lambda, parallel);
      for (int i = 0; i < run.size(); ++i) {
        if (!run.overlap(i)) continue;
        gate_of(b, run.piece(i), run.op(i), n, scratch, steps, &num_steps);
        gradients_of(run.piece(i), run.op(i), run.overlap(i));
      }
      run.clear();
    };
    for (std::int64_t piece = b.row_pieces[r + 1] - 1; piece >= b.row_pieces[r]; --piece) {
      const std::int64_t* p = b.pieces.data + piece * kNumPieceFields;
      for (std::int64_t op = b.program_ops[p[kProgram] + 1] - 1; op >= b.program_ops[p[kProgram]]; --op) {
        const bool parameterized = b.ops[op * kNumOpFields + kTermStart] >= 0;
        Gate gate = gate_of(b, piece, op, n, scratch, steps, &num_steps);
        if (!run.takes(gate) && run.size() > 0) {  // ends the run (a full one too)
          finish_run();
          gate = gate_of(b, piece, op, n, scratch, steps, &num_steps);
        }
        if (run.takes(gate)) {
          run.add(gate, piece, op, parameterized);
          continue;
        }
        if (!parameterized) {
          k.unapply_pair(psi, lambda, n, gate, nullptr, parallel);
          continue;
        }
        const int dim = 1 << gate.num_targets;
        std::fill(overlap, overlap + dim * dim, cdouble(0.0));
        k.unapply_pair(psi, lambda, n, gate, overlap, parallel);
        gradients_of(piece, op, overlap);
      }
    }
    if (run.size() > 0) finish_run();
  }, [&](const LaneGroup& g, float* work) {
    adjoint_lanes(b, k, g, upstream, final_states, state_offsets, phase_gradients, work);
  });
}

void sample(const Batch& batch, const std::uint64_t* seeds, std::int64_t repetitions,
            std::int64_t width, std::int8_t* bits) {
  std::vector<cdouble> phasors;
  const Batch b = with_phasors(batch, phasors);
  const Kernels& k = host_kernels();
  const std::int64_t row_bits = repetitions * width;
  RowSplit split(b, kLaneMaxQubits);
  split.each(1, 1, [&](std::int64_t r, bool parallel, cfloat* state) {
    run_row(b, k, r, state, parallel, seeds);
    draw_samples(b.row_qubits[r], [state](std::size_t a) { return double(std::norm(state[a])); },
                 seeds[r], repetitions, width, bits + r * row_bits);
  }, [&](const LaneGroup& g, float* state) {
    run_lanes(b, k, g, state, seeds);
    for (int w = 0; w < g.count; ++w) {
      const auto probability = [state, w](std::size_t a) {
        const double re = state[2 * a * kLanes + w], im = state[(2 * a + 1) * kLanes + w];
        return re * re + im * im;
      };
      draw_samples(b.row_qubits[g.rows[w]], probability, seeds[g.rows[w]], repetitions, width,
                   bits + g.rows[w] * row_bits);
    }
  });
}

}  // namespace qml
