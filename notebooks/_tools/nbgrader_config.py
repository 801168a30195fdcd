# nbgrader settings of the cftkit lessons.  `python notebooks/_tools/build.py --course DIR` copies this file
# into a course folder DIR (next to DIR/source/NN_name/NN_name.ipynb); the build uses it to generate the
# student copies in notebooks/student/, so what an instructor releases is exactly those copies.
c = get_config()  # noqa: F821  (nbgrader defines get_config when it reads this file)

c.CourseDirectory.course_id = "cftkit"

# Solutions become nbgrader's stub; hidden tests are dropped from the released copies (the defaults,
# spelled out because the student copies in the repository depend on them).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# Autograding runs every cell of a lesson: some train a model for up to a minute on two CPU cores.
c.Execute.timeout = 600
