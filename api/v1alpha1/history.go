package v1alpha1

// MaxRevisionMessageLength is the schema's limit on Revision.Message.
const MaxRevisionMessageLength = 1024

// RevisionMessage bounds message to what Revision.Message may hold, marking
// the cut.
func RevisionMessage(message string) string {
	if len(message) <= MaxRevisionMessageLength {
		return message
	}
	return message[:MaxRevisionMessageLength-3] + "..."
}

// NextRevision is the number the next history entry gets: one more than any
// revision recorded, including the current one, whose entry the history
// limit may have dropped.
func (in *EnvironmentStatus) NextRevision() int64 {
	var n int64
	for _, r := range in.History {
		n = max(n, r.Revision)
	}
	if in.Current != nil {
		n = max(n, in.Current.Revision)
	}
	return n + 1
}

// AppendRevision records r, keeping at most limit entries: the oldest go
// first. A limit of 0 or less keeps every entry.
func (in *EnvironmentStatus) AppendRevision(r Revision, limit int) {
	in.History = append(in.History, r)
	if over := len(in.History) - limit; limit > 0 && over > 0 {
		in.History = append([]Revision(nil), in.History[over:]...)
	}
}

// DefaultHistoryLimit is spec.historyLimit when it is not set.
const DefaultHistoryLimit = 10

// HistoryLimitOrDefault is how many history entries the Environment keeps.
func (in *Environment) HistoryLimitOrDefault() int {
	if in.Spec.HistoryLimit > 0 {
		return int(in.Spec.HistoryLimit)
	}
	return DefaultHistoryLimit
}
