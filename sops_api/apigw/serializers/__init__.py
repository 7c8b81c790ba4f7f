"""Each endpoint's input and output, declared once: they validate the request and make the OpenAPI document.

One module per endpoint module (templates.py, tasks.py, periodic.py beside endpoints/), plus
fields.py (how a value is read and documented), base.py (`Input`: validation and its
message) and common.py (shapes several endpoints share: the pipeline tree, constants).

How an endpoint declares itself (the whole pattern):

    # serializers/tasks.py
    class OperateTaskInput(Input):                        # the parameters it reads, with limits
        action = Choice(TASK_ACTIONS, error="task action is invalid", example="pause",
                        help_text="start, pause, resume or revoke")

    class CountGroup(serializers.Serializer):             # what `data` holds on success
        code = String(example="common", help_text="the group's code")

    # endpoints/tasks.py
    class OperateTaskView(_TaskView):
        input_serializer = io.OperateTaskInput            # validated before the handler (self.input)
        output_serializer = io.OPERATE_TASK_DATA          # a serializer, many=True, a field or a JSON schema

Inputs validate the merged parameters params.py reads (query string, then body; credentials
are ignored), so a GET with a query string, a GET whose query string is JSON, a JSON body
with or without its content type and a form body all reach the same fields. A field that
reads a value an app's rule owns (a cron, a template source) calls that rule (`Parsed`).
Outputs only document: the selectors build the answers, and the schemathesis test holds
every answer to the document.
"""
