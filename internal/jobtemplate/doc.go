// Package jobtemplate turns a JobTemplate (a job check's, and the release
// phase's) into the Job Baton runs, and validates it the way the API server
// will, by a server-side dry run, naming the field of the template that it
// refused.
package jobtemplate
