"""The WPS Training portal: server-rendered pages over the services' REST APIs."""

import warnings

# authlib warns on import that its httpx integration will move to a new package; it is the
# integration authlib ships and documents today.
warnings.filterwarnings("ignore", message="The httpx module is deprecated")
