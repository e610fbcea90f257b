package check

// seqSet is a set of sequence numbers stored as a bitmap that grows in both
// directions, so a device with 10k readings costs about 1.3 kB.
type seqSet struct {
	base  uint64 // seq of bit 0 of words[0]; a multiple of 64
	words []uint64
}

// add inserts seq and reports whether it was already present.
func (s *seqSet) add(seq uint64) (dup bool) {
	if s.words == nil {
		s.base = seq &^ 63
	}
	if seq < s.base {
		nb := seq &^ 63
		grow := make([]uint64, (s.base-nb)/64, uint64(len(s.words))+(s.base-nb)/64)
		s.words = append(grow, s.words...)
		s.base = nb
	}
	i := (seq - s.base) / 64
	for uint64(len(s.words)) <= i {
		s.words = append(s.words, 0)
	}
	bit := uint64(1) << ((seq - s.base) % 64)
	dup = s.words[i]&bit != 0
	s.words[i] |= bit
	return dup
}

// has reports whether seq is present.
func (s *seqSet) has(seq uint64) bool {
	if seq < s.base {
		return false
	}
	i := (seq - s.base) / 64
	return i < uint64(len(s.words)) && s.words[i]&(1<<((seq-s.base)%64)) != 0
}

// missing counts seqs in [from, to] that are absent.
func (s *seqSet) missing(from, to uint64) uint64 {
	if to < from {
		return 0
	}
	var n uint64
	for q := from; q <= to; q++ {
		if !s.has(q) {
			n++
		}
	}
	return n
}
